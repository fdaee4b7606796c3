"""What a Windows user's machine does to the app, run against a build (or the source CLI):

    python scripts/smoke_windows.py --app build/frozen/dist/CapsWriter --archive MODEL.tar.gz
    python scripts/smoke_windows.py --models-dir models        # the source CLI, this Python

The app and its models go under a folder named with Chinese letters and spaces; a Chinese clip
named 中文 录音.wav, and MP3 and M4A copies of it, are transcribed with the output redirected to a
file; a port the system refuses gives exit 2 and a sentence; a server is reached with a dead
proxy set (environment, and on Windows the system setting); `doctor` runs; on Windows the tray
app starts without a console window and leaves no process behind when it is closed. Needs PyAV
(MP3/M4A) and psutil; settings, data and cache go to the temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "real" / "zh_aishell_BAC009S0724W0121.wav"
WINDOWS = sys.platform == "win32"
DEAD_PROXY = "http://127.0.0.1:9"


def step(text: str) -> None:
    print(f"· {text}", flush=True)


def fail(text: str) -> None:
    raise SystemExit(f"smoke test failed: {text}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


class Smoke:
    def __init__(self, cli: list[str], home: Path, env: dict[str, str]) -> None:
        self.cli, self.home, self.env = cli, home, env

    def run(self, *args: str, stdout: object = subprocess.PIPE, extra_env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([*self.cli, *args], env={**self.env, **(extra_env or {})},
                              stdout=stdout, stderr=subprocess.PIPE, timeout=timeout, cwd=self.home)

    def transcribe_redirected(self, clip: Path) -> None:
        out = clip.with_name(clip.name + " 输出.txt")
        with out.open("wb") as handle:
            done = self.run("transcribe", "--in-process", "--print-text", "--formats", "txt",
                            "--language", "zh", str(clip), stdout=handle)
        if done.returncode != 0:
            fail(f"transcribing {clip.name}: {done.stderr.decode('utf-8', 'replace')[-1500:]}")
        text = out.read_bytes().decode("utf-8")
        if not has_chinese(text):
            fail(f"{clip.name}: no Chinese in the redirected output: {text!r}")
        step(f"{clip.name} → {out.name}: {text.splitlines()[0]}")

    def refused_port(self) -> None:
        port = free_port()
        if WINDOWS:
            # What Hyper-V, WSL and Docker do to ports at boot (needs an administrator).
            reserve = ["netsh", "int", "ipv4", "add", "excludedportrange", "protocol=tcp",
                       f"startport={port}", "numberofports=1", "store=active"]
            subprocess.run(reserve, check=True, capture_output=True)
        elif os.geteuid() != 0:
            port = 80
        else:
            step("reserved port: skipped (root may bind any port)")
            return
        try:
            done = self.run("server", "--port", str(port), timeout=180)
        finally:
            if WINDOWS:
                subprocess.run(["netsh", "int", "ipv4", "delete", "excludedportrange",
                                "protocol=tcp", f"startport={port}", "numberofports=1",
                                "store=active"], capture_output=True)
        err = done.stderr.decode("utf-8", "replace")
        if done.returncode != 2 or "Traceback" in err or f"use port {port}" not in err:
            fail(f"reserved port {port}: exit {done.returncode}: {err[-1500:]}")
        step(f"reserved port {port}: exit 2, {err.strip().splitlines()[-1]}")

    def dead_proxy(self, clip: Path) -> None:
        proxy = {name: DEAD_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                               "http_proxy", "https_proxy", "all_proxy")}
        restore = set_system_proxy(DEAD_PROXY) if WINDOWS else None
        port = free_port()
        server = subprocess.Popen([*self.cli, "server", "--port", str(port), "--workers", "1"],
                                  env={**self.env, **proxy}, cwd=self.home,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, server)
            done = self.run("transcribe", "--port", str(port), "--no-start", "--formats", "json",
                            str(clip), extra_env=proxy)
            if done.returncode != 0:
                fail(f"through the server with a dead proxy: {done.stderr.decode()[-1500:]}")
            step(f"dead proxy {DEAD_PROXY}: the server on port {port} answered")
        finally:
            server.terminate()
            server.wait(60)
            if restore is not None:
                restore()

    def doctor(self) -> None:
        """The report is printed; a problem it finds (a CI machine has no microphone, maybe no
        clipboard) is the report's business, a crash is ours."""
        out = self.home / "doctor.txt"
        with out.open("wb") as handle:  # a file: a clipboard helper may outlive the command
            done = self.run("doctor", stdout=handle, timeout=120)
        report = out.read_bytes().decode("utf-8", "replace")
        print(report)
        if done.returncode not in (0, 1) or "versions" not in report:
            fail(f"doctor: exit {done.returncode}: {done.stderr.decode()[-1500:]}")

    def tray(self, app: Path) -> None:
        import psutil

        desktop = app / "CapsWriter.exe"
        if pe_subsystem(desktop) != 2:
            fail(f"{desktop.name} is not a windowed program: it would open a console")
        port = free_port()
        config = self.home / "tray.toml"
        config.write_text(f"[server]\nport = {port}\n", encoding="utf-8")
        tray = subprocess.Popen([str(desktop), "--config", str(config), "client"], env=self.env)
        try:
            server = wait_ready(port, tray, timeout=240)
            family = {p.pid for p in psutil.Process(tray.pid).children(recursive=True)}
            step(f"tray app up, its server ready on port {port} ({len(family)} processes)")
            if server is not None and server.get("status") == "down":
                fail("the tray app's server is down")
        finally:
            # Closing as Windows does at log-off (WM_CLOSE), then by force if it stays.
            subprocess.run(["taskkill", "/PID", str(tray.pid)], capture_output=True)
            try:
                tray.wait(20)
            except subprocess.TimeoutExpired:
                tray.kill()
                tray.wait(20)
        deadline = time.monotonic() + 30
        left = family
        while left and time.monotonic() < deadline:
            left = {pid for pid in left if psutil.pid_exists(pid)}
            time.sleep(0.5)
        if left:
            fail(f"processes left behind after the tray app quit: {sorted(left)}")
        step("tray app closed; no process left behind")


def direct_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 180) -> dict | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            fail(f"exited with code {process.returncode} before the server was ready")
        try:
            with direct_opener().open(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                health = json.load(reply)
            if health["workers_ready"] == len(health["workers"]) > 0:
                return health
        except OSError:
            pass
        time.sleep(0.5)
    fail(f"no server ready on port {port} after {timeout:.0f} s")
    return None


def set_system_proxy(proxy: str):  # pragma: no cover - Windows only
    """Turn on the system proxy as Clash or v2rayN do; returns how to undo it."""
    import winreg

    key = winreg.OpenKey(winreg.HKEY_CURRENT_USER,
                         r"Software\Microsoft\Windows\CurrentVersion\Internet Settings", 0,
                         winreg.KEY_READ | winreg.KEY_WRITE)
    before = {}
    for name in ("ProxyEnable", "ProxyServer", "ProxyOverride"):
        try:
            before[name] = winreg.QueryValueEx(key, name)
        except OSError:
            before[name] = None
    winreg.SetValueEx(key, "ProxyEnable", 0, winreg.REG_DWORD, 1)
    winreg.SetValueEx(key, "ProxyServer", 0, winreg.REG_SZ, proxy.removeprefix("http://"))
    winreg.SetValueEx(key, "ProxyOverride", 0, winreg.REG_SZ, "localhost;127.*;<local>")

    def restore() -> None:
        for name, value in before.items():
            if value is None:
                try:
                    winreg.DeleteValue(key, name)
                except OSError:
                    pass
            else:
                winreg.SetValueEx(key, name, 0, value[1], value[0])
        winreg.CloseKey(key)

    return restore


def pe_subsystem(program: Path) -> int:
    """The PE header's subsystem: 2 a windowed program, 3 a console one."""
    data = program.read_bytes()[:4096]
    pe = int.from_bytes(data[0x3C:0x40], "little")
    return int.from_bytes(data[pe + 24 + 68:pe + 24 + 70], "little")


def encode(clip: Path, suffix: str, codec: str) -> Path:
    import av
    import numpy as np
    import soundfile as sf

    samples, rate = sf.read(clip, dtype="float32")
    target = clip.with_suffix(suffix)
    with av.open(str(target), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.asarray(samples, "float32")[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, help="the built app folder (default: the source CLI)")
    parser.add_argument("--archive", type=Path, help="model archive to install into the app")
    parser.add_argument("--models-dir", type=Path, help="installed models (without --archive)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp()) / "测试 目录 CapsWriter"
    home.mkdir(parents=True)
    env = {**os.environ, "CAPSWRITER_CONFIG_DIR": str(home / "config"),
           "CAPSWRITER_DATA_DIR": str(home / "data"), "CAPSWRITER_CACHE_DIR": str(home / "cache"),
           # What a Western Windows gives a redirect when nothing asks for UTF-8.
           "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0"}
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(name, None)
    try:
        if args.app:
            app = home / "应用 程序"
            shutil.copytree(args.app, app)
            program = app / ("capswriter-cli.exe" if WINDOWS else "capswriter")
            cli = [str(program)]
            env["CAPSWRITER_MODELS_DIR"] = str(app / "models")
        else:
            app = None
            cli = [sys.executable, "-m", "capswriter"]
            env["PYTHONPATH"] = str(ROOT)
            env["CAPSWRITER_MODELS_DIR"] = str(args.models_dir or ROOT / "models")
        smoke = Smoke(cli, home, env)
        if args.archive:
            done = smoke.run("models", "install", str(args.archive.resolve()))
            if done.returncode != 0:
                fail(f"installing {args.archive}: {done.stderr.decode()[-1500:]}")
            step(f"model installed under {env['CAPSWRITER_MODELS_DIR']}")
        clip = home / "中文 录音.wav"
        shutil.copy(CLIP, clip)
        smoke.transcribe_redirected(clip)
        smoke.transcribe_redirected(encode(clip, ".mp3", "libmp3lame"))
        smoke.transcribe_redirected(encode(clip, ".m4a", "aac"))
        smoke.refused_port()
        smoke.dead_proxy(clip)
        smoke.doctor()
        if WINDOWS and app is not None:
            smoke.tray(app)
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)
    print("Windows smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
