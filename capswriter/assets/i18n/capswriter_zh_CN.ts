<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>DropWindow</name>
    <message>
      <source>{name}: waiting (position {position})</source>
      <translation>{name}：排队中（第 {position} 位）</translation>
    </message>
    <message>
      <source>{name}: waiting</source>
      <translation>{name}：排队中</translation>
    </message>
    <message>
      <source>{name}: done → {formats}</source>
      <translation>{name}：完成 → {formats}</translation>
    </message>
    <message>
      <source>{name}: failed: {reason}</source>
      <translation>{name}：失败：{reason}</translation>
    </message>
    <message>
      <source>CapsWriter: drop files</source>
      <translation>CapsWriter：拖入文件</translation>
    </message>
    <message>
      <source>Drop audio or video files here</source>
      <translation>把音频或视频文件拖到这里</translation>
    </message>
    <message>
      <source>Release to transcribe</source>
      <translation>松开即开始转写</translation>
    </message>
  </context>
  <context>
    <name>HistoryWindow</name>
    <message>
      <source>When</source>
      <translation>时间</translation>
    </message>
    <message>
      <source>From</source>
      <translation>来源</translation>
    </message>
    <message>
      <source>Text</source>
      <translation>文字</translation>
    </message>
    <message>
      <source>Length</source>
      <translation>时长</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Done</source>
      <translation>完成</translation>
    </message>
    <message>
      <source>Waiting for the server</source>
      <translation>等待服务器</translation>
    </message>
    <message>
      <source>Failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>Dictation</source>
      <translation>听写</translation>
    </message>
    <message>
      <source>Text ready {seconds:.2f} s after the key was released</source>
      <translation>松开按键 {seconds:.2f} 秒后出字</translation>
    </message>
    <message>
      <source>CapsWriter: history</source>
      <translation>CapsWriter：历史记录</translation>
    </message>
    <message>
      <source>Search text or file name</source>
      <translation>搜索文字或文件名</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>复制</translation>
    </message>
    <message>
      <source>Paste again</source>
      <translation>再次粘贴</translation>
    </message>
    <message>
      <source>Open transcript</source>
      <translation>打开转写稿</translation>
    </message>
    <message>
      <source>Show in folder</source>
      <translation>在文件夹中显示</translation>
    </message>
    <message>
      <source>Delete</source>
      <translation>删除</translation>
    </message>
    <message>
      <source>Delete from history</source>
      <translation>从历史记录中删除</translation>
    </message>
    <message numerus="yes">
      <source>Delete %n entries from the history? Their text and audio are removed; transcript files stay where they are.</source>
      <translation>
        <numerusform>从历史记录中删除 %n 条？其文字和音频将被删除；转写文件保留在原处。</numerusform>
      </translation>
    </message>
    <message>
      <source>heard as: {raw}</source>
      <translation>识别原文：{raw}</translation>
    </message>
    <message>
      <source>As said: {text}</source>
      <translation>原话：{text}</translation>
    </message>
  </context>
  <context>
    <name>HotkeyPicker</name>
    <message>
      <source>Press a key to set…</source>
      <translation>按键设置…</translation>
    </message>
    <message>
      <source>Press the key now (Esc cancels)</source>
      <translation>请按下按键（Esc 取消）</translation>
    </message>
    <message>
      <source>That key</source>
      <translation>该按键</translation>
    </message>
    <message>
      <source>{key} cannot be used for push-to-talk: it types or is a shortcut. Try Caps Lock, Right Alt, Right Ctrl or F13.</source>
      <translation>{key} 不能用作按住说话键：它会输入字符或是快捷键。可试试 Caps Lock、右 Alt、右 Ctrl 或 F13。</translation>
    </message>
  </context>
  <context>
    <name>Keys</name>
    <message>
      <source>Caps Lock</source>
      <translation>Caps Lock（大写锁定）</translation>
    </message>
    <message>
      <source>Scroll Lock</source>
      <translation>Scroll Lock（滚动锁定）</translation>
    </message>
    <message>
      <source>Num Lock</source>
      <translation>Num Lock（数字锁定）</translation>
    </message>
    <message>
      <source>Pause</source>
      <translation>Pause（暂停）</translation>
    </message>
    <message>
      <source>Insert</source>
      <translation>Insert（插入）</translation>
    </message>
    <message>
      <source>Menu</source>
      <translation>菜单键</translation>
    </message>
    <message>
      <source>Print Screen</source>
      <translation>Print Screen（截屏）</translation>
    </message>
    <message>
      <source>Right Alt</source>
      <translation>右 Alt</translation>
    </message>
    <message>
      <source>AltGr</source>
      <translation>AltGr</translation>
    </message>
    <message>
      <source>Right Ctrl</source>
      <translation>右 Ctrl</translation>
    </message>
    <message>
      <source>Right Shift</source>
      <translation>右 Shift</translation>
    </message>
    <message>
      <source>Right Windows / Command</source>
      <translation>右 Windows / Command</translation>
    </message>
    <message>
      <source>Left Alt</source>
      <translation>左 Alt</translation>
    </message>
    <message>
      <source>Left Ctrl</source>
      <translation>左 Ctrl</translation>
    </message>
    <message>
      <source>Left Shift</source>
      <translation>左 Shift</translation>
    </message>
    <message>
      <source>Left Windows / Command</source>
      <translation>左 Windows / Command</translation>
    </message>
    <message>
      <source>Mouse back button</source>
      <translation>鼠标后退键</translation>
    </message>
    <message>
      <source>Mouse forward button</source>
      <translation>鼠标前进键</translation>
    </message>
    <message>
      <source>Middle mouse button</source>
      <translation>鼠标中键</translation>
    </message>
  </context>
  <context>
    <name>Link</name>
    <message>
      <source>nothing answers at {where}</source>
      <translation>{where} 无响应</translation>
    </message>
    <message>
      <source>the server at {where} does not answer in time</source>
      <translation>{where} 的服务器响应超时</translation>
    </message>
    <message>
      <source>the server at {where} refuses this client: check the token in Settings</source>
      <translation>{where} 的服务器拒绝了本客户端：请检查设置中的访问令牌</translation>
    </message>
    <message>
      <source>the server at {where} answered with an error ({status})</source>
      <translation>{where} 的服务器返回错误（{status}）</translation>
    </message>
    <message>
      <source>something else answers at {where}: is the port right?</source>
      <translation>{where} 上运行的不是识别服务器：端口是否正确？</translation>
    </message>
    <message>
      <source>the server at {where} cannot be reached ({error})</source>
      <translation>无法连接 {where} 的服务器（{error}）</translation>
    </message>
  </context>
  <context>
    <name>ModelsPage</name>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Languages</source>
      <translation>语言</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>大小</translation>
    </message>
    <message>
      <source>Licence</source>
      <translation>许可</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>下载</translation>
    </message>
    <message>
      <source>Pause</source>
      <translation>暂停</translation>
    </message>
    <message>
      <source>Use this model</source>
      <translation>使用此模型</translation>
    </message>
    <message>
      <source>Delete</source>
      <translation>删除</translation>
    </message>
    <message>
      <source>Install from file…</source>
      <translation>从文件安装…</translation>
    </message>
    <message>
      <source>Downloading {percent} %</source>
      <translation>正在下载 {percent} %</translation>
    </message>
    <message>
      <source>In use</source>
      <translation>使用中</translation>
    </message>
    <message>
      <source>Not installed</source>
      <translation>未安装</translation>
    </message>
    <message>
      <source>Downloading</source>
      <translation>正在下载</translation>
    </message>
    <message>
      <source>Paused</source>
      <translation>已暂停</translation>
    </message>
    <message>
      <source>Installing</source>
      <translation>正在安装</translation>
    </message>
    <message>
      <source>Installed</source>
      <translation>已安装</translation>
    </message>
    <message>
      <source>Failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>Choose a model to download, use or delete.</source>
      <translation>选择一个模型以下载、使用或删除。</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Install a model archive</source>
      <translation>安装模型压缩包</translation>
    </message>
    <message>
      <source>Model archives (*.tar.bz2 *.tar.gz *.tgz *.tar.xz *.tar)</source>
      <translation>模型压缩包 (*.tar.bz2 *.tar.gz *.tgz *.tar.xz *.tar)</translation>
    </message>
  </context>
  <context>
    <name>Notices</name>
    <message>
      <source>Push-to-talk unavailable</source>
      <translation>按住说话不可用</translation>
    </message>
    <message>
      <source>{reason}. Files can still be transcribed.</source>
      <translation>{reason}。仍可转写文件。</translation>
    </message>
    <message>
      <source>Settings saved</source>
      <translation>设置已保存</translation>
    </message>
    <message>
      <source>The new server address is used after a restart.</source>
      <translation>新的服务器地址将在重启后生效。</translation>
    </message>
    <message>
      <source>Microphone lost</source>
      <translation>麦克风已断开</translation>
    </message>
    <message>
      <source>Switching the speech model</source>
      <translation>正在切换语音模型</translation>
    </message>
    <message>
      <source>The recognition server is loading {model}.</source>
      <translation>识别服务器正在加载 {model}。</translation>
    </message>
    <message>
      <source>Text not inserted</source>
      <translation>文字未能输入</translation>
    </message>
    <message>
      <source>{reason}. It is on the clipboard.</source>
      <translation>{reason}。文字已放在剪贴板上。</translation>
    </message>
    <message>
      <source>The recognition server is back</source>
      <translation>识别服务器已恢复</translation>
    </message>
    <message>
      <source>Dictation works again.</source>
      <translation>听写已可再次使用。</translation>
    </message>
    <message>
      <source>The recognition server stopped</source>
      <translation>识别服务器已停止</translation>
    </message>
    <message>
      <source>It was stopped by signal {signal}; it is being started again.</source>
      <translation>它被信号 {signal} 终止；正在重新启动。</translation>
    </message>
    <message>
      <source>It refused to start; see the server log (Open logs).</source>
      <translation>它无法启动；请查看服务器日志（打开日志）。</translation>
    </message>
    <message>
      <source>It exited with code {code}; it is being started again.</source>
      <translation>它以代码 {code} 退出；正在重新启动。</translation>
    </message>
    <message>
      <source>Could not start the server</source>
      <translation>无法启动服务器</translation>
    </message>
    <message>
      <source>Microphone changes apply after the current dictation.</source>
      <translation>麦克风的更改将在本次听写结束后生效。</translation>
    </message>
    <message>
      <source>Microphone unavailable</source>
      <translation>麦克风不可用</translation>
    </message>
    <message>
      <source>Recording failed</source>
      <translation>录音失败</translation>
    </message>
    <message>
      <source>Unfinished dictation kept</source>
      <translation>已保留未完成的听写</translation>
    </message>
    <message>
      <source>CapsWriter ended while you were dictating. What was recorded is in History and will be transcribed as soon as the server is ready.</source>
      <translation>CapsWriter 在听写过程中退出了。已录下的内容保存在历史记录中，服务器就绪后会立即转写。</translation>
    </message>
    <message>
      <source>CapsWriter was closed before the text came back</source>
      <translation>文字返回之前 CapsWriter 已关闭</translation>
    </message>
    <message>
      <source>Dictation could not be transcribed</source>
      <translation>听写无法转写</translation>
    </message>
    <message>
      <source>The server refused this audio ({reason}). It is kept in History.</source>
      <translation>服务器拒绝了这段音频（{reason}）。它已保存在历史记录中。</translation>
    </message>
    <message>
      <source>Dictation kept for later</source>
      <translation>听写已保存，稍后转写</translation>
    </message>
    <message>
      <source>The server could not transcribe it ({reason}). The {seconds:.1f} s of audio are in History and will be transcribed when the server is back.</source>
      <translation>服务器暂时无法转写（{reason}）。这 {seconds:.1f} 秒的音频已保存在历史记录中，服务器恢复后会自动转写。</translation>
    </message>
    <message>
      <source>{reason}. The text is on the clipboard and in History: {text}</source>
      <translation>{reason}。文字已放在剪贴板和历史记录中：{text}</translation>
    </message>
    <message>
      <source>Kept dictation transcribed</source>
      <translation>已保存的听写已转写</translation>
    </message>
    <message>
      <source>(no speech)</source>
      <translation>（没有语音）</translation>
    </message>
    <message>
      <source>{path} is not a file</source>
      <translation>{path} 不是文件</translation>
    </message>
    <message>
      <source>transcribed, but writing the outputs failed: {reason}</source>
      <translation>已转写，但写入结果文件失败：{reason}</translation>
    </message>
    <message>
      <source>Transcribed {name}</source>
      <translation>已转写 {name}</translation>
    </message>
    <message>
      <source>Wrote {files}</source>
      <translation>已写入 {files}</translation>
    </message>
    <message>
      <source>Could not transcribe {name}</source>
      <translation>无法转写 {name}</translation>
    </message>
    <message>
      <source>{role}: the model answered with no text</source>
      <translation>{role}：模型没有返回任何文字</translation>
    </message>
    <message>
      <source>stopped with Esc</source>
      <translation>已按 Esc 停止</translation>
    </message>
    <message>
      <source>What you said was typed instead.</source>
      <translation>已改为输入你说的原话。</translation>
    </message>
    <message>
      <source>What you said is on the clipboard ({reason}).</source>
      <translation>你说的原话在剪贴板上（{reason}）。</translation>
    </message>
    <message>
      <source>Rewrite failed</source>
      <translation>改写失败</translation>
    </message>
    <message>
      <source>Rewrite stopped</source>
      <translation>改写已停止</translation>
    </message>
    <message>
      <source>{reason}. What was typed stays; what you said is {where}.</source>
      <translation>{reason}。已输入的内容保留；你说的原话{where}。</translation>
    </message>
    <message>
      <source>{role} was stopped before it answered; what you said is {where}.</source>
      <translation>{role} 在回答前已停止；你说的原话{where}。</translation>
    </message>
    <message>
      <source>{reason}. The rewritten text is {where}.</source>
      <translation>{reason}。改写后的文字{where}。</translation>
    </message>
    <message>
      <source>The rewritten text is {where}.</source>
      <translation>改写后的文字{where}。</translation>
    </message>
    <message>
      <source>on the clipboard and in History</source>
      <translation>在剪贴板和历史记录中</translation>
    </message>
    <message>
      <source>in History</source>
      <translation>在历史记录中</translation>
    </message>
  </context>
  <context>
    <name>RecordingOverlay</name>
    <message>
      <source>No microphone</source>
      <translation>没有麦克风</translation>
    </message>
    <message>
      <source>Recording failed</source>
      <translation>录音失败</translation>
    </message>
    <message>
      <source>The server could not read this audio</source>
      <translation>服务器无法读取这段音频</translation>
    </message>
    <message>
      <source>Server unavailable: kept in History</source>
      <translation>服务器不可用：已保存在历史记录中</translation>
    </message>
    <message>
      <source>Not inserted: the text is on the clipboard</source>
      <translation>未插入：文字在剪贴板上</translation>
    </message>
    <message>
      <source>Failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>Listening…</source>
      <translation>正在听…</translation>
    </message>
    <message>
      <source>Transcribing…</source>
      <translation>正在转写…</translation>
    </message>
    <message>
      <source>Nothing heard</source>
      <translation>没有听到声音</translation>
    </message>
    <message>
      <source>Done</source>
      <translation>完成</translation>
    </message>
    <message>
      <source>Rewrite failed: your words went out as said</source>
      <translation>改写失败：已按原话输出</translation>
    </message>
    <message>
      <source>{role}: rewriting…</source>
      <translation>{role}：正在改写…</translation>
    </message>
    <message>
      <source>sent off this machine</source>
      <translation>发送到本机以外</translation>
    </message>
  </context>
  <context>
    <name>SettingsDialog</name>
    <message>
      <source>As recognised (no conversion)</source>
      <translation>按识别结果（不转换）</translation>
    </message>
    <message>
      <source>Paste (fast, uses the clipboard)</source>
      <translation>粘贴（快，使用剪贴板）</translation>
    </message>
    <message>
      <source>Type key by key</source>
      <translation>逐键输入</translation>
    </message>
    <message>
      <source>Plain text (.txt)</source>
      <translation>纯文本（.txt）</translation>
    </message>
    <message>
      <source>Subtitles (.srt)</source>
      <translation>字幕（.srt）</translation>
    </message>
    <message>
      <source>Web subtitles (.vtt)</source>
      <translation>网页字幕（.vtt）</translation>
    </message>
    <message>
      <source>Text with timings (.json)</source>
      <translation>带时间的文字（.json）</translation>
    </message>
    <message>
      <source>Dictation</source>
      <translation>听写</translation>
    </message>
    <message>
      <source>Output</source>
      <translation>输出</translation>
    </message>
    <message>
      <source>Files</source>
      <translation>文件</translation>
    </message>
    <message>
      <source>Models and language</source>
      <translation>模型与语言</translation>
    </message>
    <message>
      <source>Server</source>
      <translation>服务器</translation>
    </message>
    <message>
      <source>Model library</source>
      <translation>模型库</translation>
    </message>
    <message>
      <source>Default device (ALSA)</source>
      <translation>默认设备（ALSA）</translation>
    </message>
    <message>
      <source>System default device (ALSA)</source>
      <translation>系统默认设备（ALSA）</translation>
    </message>
    <message>
      <source>PulseAudio sound server</source>
      <translation>PulseAudio 声音服务</translation>
    </message>
    <message>
      <source>PipeWire sound server</source>
      <translation>PipeWire 声音服务</translation>
    </message>
    <message>
      <source>CapsWriter settings</source>
      <translation>CapsWriter 设置</translation>
    </message>
    <message>
      <source> s</source>
      <translation> 秒</translation>
    </message>
    <message>
      <source>System default</source>
      <translation>系统默认</translation>
    </message>
    <message>
      <source>Keep the microphone open (the first syllable is never lost)</source>
      <translation>保持麦克风开启（不丢失第一个音节）</translation>
    </message>
    <message>
      <source> min</source>
      <translation> 分钟</translation>
    </message>
    <message>
      <source>Show a small panel on screen while dictating</source>
      <translation>听写时在屏幕上显示一个小面板</translation>
    </message>
    <message>
      <source>Play a short sound when recording starts and stops</source>
      <translation>开始和停止录音时播放提示音</translation>
    </message>
    <message>
      <source>Keep the audio of every dictation in History</source>
      <translation>在历史记录中保存每次听写的音频</translation>
    </message>
    <message>
      <source> days</source>
      <translation> 天</translation>
    </message>
    <message>
      <source>Forever</source>
      <translation>永久</translation>
    </message>
    <message>
      <source>All</source>
      <translation>全部</translation>
    </message>
    <message>
      <source>Push-to-talk key</source>
      <translation>按住说话键</translation>
    </message>
    <message>
      <source>Hold the key at least</source>
      <translation>按住按键至少</translation>
    </message>
    <message>
      <source>Microphone</source>
      <translation>麦克风</translation>
    </message>
    <message>
      <source>Release an unused microphone after</source>
      <translation>麦克风闲置多久后释放</translation>
    </message>
    <message>
      <source>Keep History for</source>
      <translation>历史记录保留</translation>
    </message>
    <message>
      <source>Keep at most (entries)</source>
      <translation>最多保留（条）</translation>
    </message>
    <message>
      <source>Keep the final punctuation mark</source>
      <translation>保留句末标点</translation>
    </message>
    <message>
      <source>Add a space after the text</source>
      <translation>在文字后加空格</translation>
    </message>
    <message>
      <source>Application (part of its name or window title)</source>
      <translation>应用程序（名称或窗口标题的一部分）</translation>
    </message>
    <message>
      <source>Insert by</source>
      <translation>输入方式</translation>
    </message>
    <message>
      <source>Add application</source>
      <translation>添加应用程序</translation>
    </message>
    <message>
      <source>Remove</source>
      <translation>移除</translation>
    </message>
    <message>
      <source>Insert text by</source>
      <translation>文字输入方式</translation>
    </message>
    <message>
      <source>Applications that need another way:</source>
      <translation>需要其他输入方式的应用程序：</translation>
    </message>
    <message>
      <source>Write beside each file</source>
      <translation>在每个文件旁写入</translation>
    </message>
    <message>
      <source>{name} (not installed)</source>
      <translation>{name}（未安装）</translation>
    </message>
    <message>
      <source>Speech model</source>
      <translation>语音模型</translation>
    </message>
    <message>
      <source>Spoken language</source>
      <translation>说话语言</translation>
    </message>
    <message>
      <source>Write Chinese as</source>
      <translation>中文书写为</translation>
    </message>
    <message>
      <source>Language of CapsWriter</source>
      <translation>界面语言</translation>
    </message>
    <message>
      <source>Downloaded models are checked and tried on a sample before they can be used. Use a model, then Save: the recognition server switches to it.</source>
      <translation>下载的模型在使用前会经过检查并试听一段样本。选择“使用此模型”后点“保存”，识别服务器即切换到该模型。</translation>
    </message>
    <message>
      <source>Detect automatically</source>
      <translation>自动检测</translation>
    </message>
    <message>
      <source>{code} (not known to this model)</source>
      <translation>{code}（此模型不支持）</translation>
    </message>
    <message>
      <source>For the recognition server CapsWriter starts on this computer, or the one it connects to. Changes apply after a restart.</source>
      <translation>用于 CapsWriter 在本机启动或连接的识别服务器。更改在重启后生效。</translation>
    </message>
    <message>
      <source>none</source>
      <translation>无</translation>
    </message>
    <message>
      <source>One per processor core</source>
      <translation>每个处理器核心一个</translation>
    </message>
    <message>
      <source>Keep one more worker for dictation (never waits behind files)</source>
      <translation>为听写多保留一个识别进程（不必排在文件之后）</translation>
    </message>
    <message>
      <source>Server address</source>
      <translation>服务器地址</translation>
    </message>
    <message>
      <source>Port</source>
      <translation>端口</translation>
    </message>
    <message>
      <source>Access token</source>
      <translation>访问令牌</translation>
    </message>
    <message>
      <source>Recognition workers</source>
      <translation>识别进程数</translation>
    </message>
    <message>
      <source>{name} (not connected)</source>
      <translation>{name}（未连接）</translation>
    </message>
    <message>
      <source>Row {row} of the applications has no name.</source>
      <translation>应用程序列表第 {row} 行没有名称。</translation>
    </message>
    <message>
      <source>'{name}' is in the applications twice.</source>
      <translation>“{name}”在应用程序列表中出现了两次。</translation>
    </message>
    <message>
      <source>Not saved: {setting} {problem}</source>
      <translation>未保存：{setting} {problem}</translation>
    </message>
    <message>
      <source>Not saved: {reason}</source>
      <translation>未保存：{reason}</translation>
    </message>
    <message>
      <source>Could not save {path}: {reason}</source>
      <translation>无法保存 {path}：{reason}</translation>
    </message>
    <message>
      <source>Automatic (system language)</source>
      <translation>自动（跟随系统语言）</translation>
    </message>
    <message>
      <source>Hot words</source>
      <translation>热词</translation>
    </message>
    <message>
      <source>As recognised</source>
      <translation>保持识别结果</translation>
    </message>
    <message>
      <source>One space (用 Claude 写)</source>
      <translation>加一个空格（用 Claude 写）</translation>
    </message>
    <message>
      <source>No space (用Claude写)</source>
      <translation>不加空格（用Claude写）</translation>
    </message>
    <message>
      <source>Write spoken Chinese numbers in digits (二十三 → 23)</source>
      <translation>把读出的中文数字写成阿拉伯数字（二十三 → 23）</translation>
    </message>
    <message>
      <source>Match hot words by sound, not only by spelling</source>
      <translation>按读音匹配热词，不只按字面</translation>
    </message>
    <message>
      <source>Replace when the sound matches at least</source>
      <translation>读音相似度至少达到此值才替换</translation>
    </message>
    <message>
      <source>Between Chinese and Latin</source>
      <translation>中文与英文、数字之间</translation>
    </message>
    <message>
      <source>Not saved: hot words {reason}</source>
      <translation>未保存：热词 {reason}</translation>
    </message>
  </context>
  <context>
    <name>SettingsRecovery</name>
    <message>
      <source>Open the settings file</source>
      <translation>打开设置文件</translation>
    </message>
    <message>
      <source>Reset to defaults</source>
      <translation>恢复默认设置</translation>
    </message>
    <message>
      <source>CapsWriter cannot start with its settings file.</source>
      <translation>CapsWriter 无法使用其设置文件启动。</translation>
    </message>
    <message>
      <source>{error}

Fix the file and start CapsWriter again, or reset the settings to their defaults (the current file is kept as a backup).</source>
      <translation>{error}

请修正该文件后重新启动 CapsWriter，或将设置恢复为默认值（当前文件会保留为备份）。</translation>
    </message>
  </context>
  <context>
    <name>Status</name>
    <message>
      <source>Starting the recognition server…</source>
      <translation>正在启动识别服务器…</translation>
    </message>
    <message>
      <source>Loading the speech model…</source>
      <translation>正在加载语音模型…</translation>
    </message>
    <message>
      <source>Ready: hold {key} to dictate</source>
      <translation>就绪：按住 {key} 说话</translation>
    </message>
    <message>
      <source>Listening…</source>
      <translation>正在听…</translation>
    </message>
    <message>
      <source>Transcribing…</source>
      <translation>正在转写…</translation>
    </message>
    <message>
      <source>Transcribing files…</source>
      <translation>正在转写文件…</translation>
    </message>
    <message>
      <source>No recognition server: {detail}</source>
      <translation>没有识别服务器：{detail}</translation>
    </message>
    <message>
      <source>nothing answers</source>
      <translation>无响应</translation>
    </message>
  </context>
  <context>
    <name>Tray</name>
    <message>
      <source>Transcribe files</source>
      <translation>转写文件</translation>
    </message>
    <message>
      <source>Audio and video</source>
      <translation>音频和视频</translation>
    </message>
    <message>
      <source>All files</source>
      <translation>所有文件</translation>
    </message>
    <message>
      <source>Transcribe files…</source>
      <translation>转写文件…</translation>
    </message>
    <message>
      <source>Drop window</source>
      <translation>拖放窗口</translation>
    </message>
    <message>
      <source>History</source>
      <translation>历史记录</translation>
    </message>
    <message>
      <source>Settings</source>
      <translation>设置</translation>
    </message>
    <message>
      <source>Open logs</source>
      <translation>打开日志</translation>
    </message>
    <message>
      <source>Retry connecting to the server</source>
      <translation>重新连接服务器</translation>
    </message>
    <message>
      <source>Quit</source>
      <translation>退出</translation>
    </message>
    <message>
      <source>Click to open the folder.</source>
      <translation>点击打开文件夹。</translation>
    </message>
    <message>
      <source>Open folder</source>
      <translation>打开文件夹</translation>
    </message>
  </context>
  <context>
    <name>HotWordsEditor</name>
    <message>
      <source>Try a sentence, e.g. 付平用cloud写了二十行代码</source>
      <translation>试一句话，例如：付平用cloud写了二十行代码</translation>
    </message>
    <message>
      <source>The list has a problem: {reason}</source>
      <translation>热词表有问题：{reason}</translation>
    </message>
    <message>
      <source>Nothing would change.</source>
      <translation>不会有任何改动。</translation>
    </message>
    <message>
      <source>Becomes: {text}</source>
      <translation>结果：{text}</translation>
    </message>
    <message>
      <source>{before} → {after}: sounds like “{alias}”, score {score:.2f}</source>
      <translation>{before} → {after}：读音接近“{alias}”，得分 {score:.2f}</translation>
    </message>
    <message>
      <source>numbers written in digits: {after}</source>
      <translation>数字写成阿拉伯数字：{after}</translation>
    </message>
    <message>
      <source>spelled letters joined: {after}</source>
      <translation>逐个读出的字母合并：{after}</translation>
    </message>
    <message>
      <source>spacing: {after}</source>
      <translation>中英文间距：{after}</translation>
    </message>
  </context>
  <context>
    <name>RolesPage</name>
    <message>
      <source>Roles</source>
      <translation>角色</translation>
    </message>
    <message>
      <source>so um this is a test of the rewriting role does it work</source>
      <translation>嗯那个这是一个改写角色的测试看看能不能用</translation>
    </message>
    <message>
      <source>Sends your words off this machine: {url}</source>
      <translation>会把你说的话发送到本机以外：{url}</translation>
    </message>
    <message>
      <source>Stays on this machine: {url}</source>
      <translation>只在本机处理：{url}</translation>
    </message>
    <message>
      <source>Say a role's name at the start of a dictation ("polish, …") and a language model rewrites the rest before it is typed. No role is on until you switch it on. Roles marked in red send what you dictate to another machine.</source>
      <translation>在听写开头说出角色名（如“润色，……”），其余内容会先由语言模型改写再输入。角色默认全部关闭，需要你手动开启。红色标记的角色会把你听写的内容发送到其他机器。</translation>
    </message>
    <message>
      <source>On</source>
      <translation>启用</translation>
    </message>
    <message>
      <source>Role (say)</source>
      <translation>角色（说出）</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Where the words go</source>
      <translation>文字发往何处</translation>
    </message>
    <message>
      <source>Test</source>
      <translation>测试</translation>
    </message>
    <message>
      <source>Send a sample sentence to the selected role</source>
      <translation>向选中的角色发送一句示例</translation>
    </message>
    <message>
      <source>Edit roles.toml</source>
      <translation>编辑 roles.toml</translation>
    </message>
    <message>
      <source>Reload</source>
      <translation>重新载入</translation>
    </message>
    <message>
      <source>Asking {role}…</source>
      <translation>正在询问 {role}…</translation>
    </message>
    <message>
      <source>It failed: {reason}</source>
      <translation>失败：{reason}</translation>
    </message>
    <message>
      <source>({seconds:.1f} s to the first word)</source>
      <translation>（首字用时 {seconds:.1f} 秒）</translation>
    </message>
    <message>
      <source>Answer: {text}</source>
      <translation>回答：{text}</translation>
    </message>
  </context>
</TS>
