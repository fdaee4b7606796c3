"""`capswriter bench text`: what the text stage costs, and how the short-hot-word guard was chosen.

Three measurements, all in-process and offline:

* hot words: a list of N words (default 5,000, taken evenly from pypinyin's phrase dictionary)
  is loaded and run over a fixed set of sentences; load time, p50/p95 per sentence.
* ITN: p50/p95 per sentence of :func:`capswriter.text.itn.inverse_normalize`.
* the guard for short hot words: 2- and 3-character names are planted in sentences as a
  recognizer mishears them (a homophone, a sound-alike initial/final, a wrong tone), and
  ordinary dictionary words are run past the same names. Recall (names put back) and false
  rewrites (ordinary words changed) are counted with no guard, with exact tones for short hot
  words, and with a 0.95 threshold for them.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from capswriter.text.hot_words import HotWord, HotWordMatcher, HotWordRules
from capswriter.text.itn import inverse_normalize
from capswriter.text.sounds import Sound, is_han, sounds_of

# Sentences of the kind people dictate: plain speech, names, numbers, some English.
SENTENCES = (
    "今天下午我们开个会讨论一下这个项目的进度",
    "请把这份文件发给市场部的同事，顺便抄送给我",
    "这个问题我们明天再说吧，我现在有点忙",
    "他很慌张地跑了出去，连门都没关",
    "我用cloud写代码的时候发现了一个bug",
    "我们要在二零二五年十月三日之前完成第一版",
    "预算大概是三百五十万元，比去年多了百分之十二",
    "下午三点十五分在三零二会议室开会",
    "麻烦你帮我订一张明天早上八点去上海的高铁票",
    "这个模型的准确率提高了百分之六点三",
    "他的电话是一三三四五三一二二二一",
    "服务器的地址是幺九二点幺六八点幺点幺",
    "我觉得这个方案一心一意地做下去就能成功",
    "乱七八糟的东西都扔掉吧",
    "我们公司的产品经理叫傅平，他负责精准扶贫的项目",
    "周末我想去公园散散步，顺便买点水果",
    "这本书一共有十五六个章节，我已经看了一半",
    "负三度的天气还是要多穿点衣服",
    "请打开GitHub上的那个仓库，看看最新的提交记录",
    "我们用Python和PySide6写了一个桌面应用",
    "会议纪要我整理好了，稍后发到群里",
    "这次考试他考了第一名，大家都很高兴",
    "孩子们在操场上玩得很开心",
    "这家餐厅的菜味道不错，就是价格有点贵",
    "我昨天晚上看了一部电影，讲的是一个科学家的故事",
    "你能不能帮我查一下这个快递到哪里了",
    "下周二上午十点我们和客户有一个电话会议",
    "深度学习模型需要大量的数据和计算资源",
    "语音识别的结果里经常把人名写成同音字",
    "这个季度的销售额增长了百分之二十五点八",
)


@dataclass
class Timing:
    p50_ms: float
    p95_ms: float
    samples: int

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        ms = sorted(s * 1000 for s in seconds)
        return cls(round(statistics.median(ms), 3), round(ms[int(0.95 * (len(ms) - 1))], 3),
                   len(ms))


@dataclass
class GuardRow:
    guard: str
    recall: dict[str, float]  # kind of mishearing → share of names put back
    false_rewrites: int  # ordinary words changed
    ordinary_words: int


@dataclass
class TextBench:
    hot_words: int
    hot_word_load_s: float
    hot_word_sentence: Timing
    itn_sentence: Timing
    guard: list[GuardRow] = field(default_factory=list)
    # The same on this process's CPU clock: on a shared machine the wall clock also counts
    # time other programs had the core.
    hot_word_load_cpu_s: float = 0.0
    hot_word_sentence_cpu: Timing | None = None

    def table(self) -> str:
        lines = [
            f"hot words: {self.hot_words} loaded in {self.hot_word_load_s:.2f} s; per sentence "
            f"p50 {self.hot_word_sentence.p50_ms:.2f} ms, "
            f"p95 {self.hot_word_sentence.p95_ms:.2f} ms "
            f"({self.hot_word_sentence.samples} runs)",
        ]
        cpu = self.hot_word_sentence_cpu
        if cpu is not None:
            lines.append(f"  on the CPU clock: loaded in {self.hot_word_load_cpu_s:.2f} s; "
                         f"per sentence p50 {cpu.p50_ms:.2f} ms, p95 {cpu.p95_ms:.2f} ms")
        lines += [
            f"ITN: per sentence p50 {self.itn_sentence.p50_ms:.4f} ms, "
            f"p95 {self.itn_sentence.p95_ms:.4f} ms ({self.itn_sentence.samples} runs)",
        ]
        if self.guard:
            kinds = list(self.guard[0].recall)
            lines += ["", "short hot words (recall: names put back after a mishearing; "
                          "false: ordinary words rewritten)",
                      f"{'guard':<28}" + "".join(f"{k:>14}" for k in kinds) + f"{'false':>10}"]
            for row in self.guard:
                lines.append(f"{row.guard:<28}" + "".join(f"{row.recall[k]:>14.1%}" for k in kinds)
                             + f"{row.false_rewrites:>6}/{row.ordinary_words}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bench_text", **asdict(self)}


def dictionary_words(count: int, lengths: tuple[int, ...] = (2, 3, 4), seed: int = 24) -> list[str]:
    """``count`` words of the given lengths from pypinyin's phrase dictionary, spread evenly."""
    from pypinyin.phrases_dict import phrases_dict

    words = sorted(w for w in phrases_dict if len(w) in lengths and all(map(is_han, w)))
    random.Random(seed).shuffle(words)
    return words[:count]


@dataclass
class HotWordCost:
    load_s: float
    load_cpu_s: float
    sentence: Timing
    sentence_cpu: Timing


def bench_hot_words(count: int, sentences: list[str], rounds: int) -> HotWordCost:
    words = tuple(HotWord(w) for w in dictionary_words(count))
    start, cpu = time.perf_counter(), time.process_time()
    matcher = HotWordMatcher(HotWordRules(words))
    load, load_cpu = time.perf_counter() - start, time.process_time() - cpu
    seconds, cpu_seconds = [], []
    for _ in range(rounds):
        for sentence in sentences:
            start, cpu = time.perf_counter(), time.process_time()
            matcher.apply(sentence)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu)
    return HotWordCost(load, load_cpu, Timing.of(seconds), Timing.of(cpu_seconds))


def bench_itn(sentences: list[str], rounds: int) -> Timing:
    seconds = []
    for _ in range(rounds):
        for sentence in sentences:
            start = time.perf_counter()
            inverse_normalize(sentence)
            seconds.append(time.perf_counter() - start)
    return Timing.of(seconds)


# ---- the guard for short hot words -------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)


def _by_sound(chars: list[str]) -> dict[Sound, list[str]]:
    table: dict[Sound, list[str]] = {}
    for ch in chars:
        sound = sounds_of(ch)[0]
        if sound is not None:
            table.setdefault(sound, []).append(ch)
    return table


def _misheard(name: str, kind: str, table: dict[Sound, list[str]],
              rng: random.Random) -> str | None:
    """``name`` with one character swapped for one a recognizer might write instead."""
    sounds = sounds_of(name)
    order = list(range(len(name)))
    rng.shuffle(order)
    for i in order:
        s = sounds[i]
        if s is None:
            continue
        if kind == "homophone":
            options = [Sound(s.initial, s.final, s.tone)]
        elif kind == "wrong tone":
            options = [Sound(s.initial, s.final, t) for t in (1, 2, 3, 4) if t != s.tone]
        else:  # sound-alike initial or final, same tone
            alike = {"z": "zh", "zh": "z", "c": "ch", "ch": "c", "s": "sh", "sh": "s",
                     "l": "n", "n": "l", "f": "h", "h": "f"}
            finals = {"an": "ang", "ang": "an", "en": "eng", "eng": "en", "in": "ing",
                      "ing": "in", "ai": "ei", "ei": "ai"}
            options = []
            if s.initial in alike:
                options.append(Sound(alike[s.initial], s.final, s.tone))
            if s.final in finals:
                options.append(Sound(s.initial, finals[s.final], s.tone))
        chars = [c for o in options for c in table.get(o, []) if c != name[i]]
        if chars:
            return name[:i] + rng.choice(chars) + name[i + 1:]
    return None


GUARDS: dict[str, dict[str, float]] = {
    "none": {"exact_tones_up_to": 0},
    "exact tones, <= 2 chars": {"exact_tones_up_to": 2},
    "threshold 0.95, <= 2 chars": {"exact_tones_up_to": 0, "short_threshold": 0.95},
}
MISHEARINGS = ("homophone", "sound-alike", "wrong tone")


def guard_study(names_per_length: int = 200, ordinary: int = 4000,
                seed: int = 24) -> list[GuardRow]:
    rng = random.Random(seed)
    common = dictionary_words(20000, lengths=(2,), seed=seed)
    chars = sorted({c for w in common for c in w})
    table = _by_sound(chars)
    names = []
    for length in (2, 3):
        for _ in range(names_per_length):
            names.append(rng.choice(_SURNAMES) + "".join(rng.choice(chars)
                                                         for _ in range(length - 1)))
    names = sorted(set(names))
    planted = {kind: [(n, m) for n in names if (m := _misheard(n, kind, table, rng))]
               for kind in MISHEARINGS}
    name_set = set(names)
    others = [w for w in dictionary_words(ordinary * 2, lengths=(2, 3), seed=seed + 1)
              if w not in name_set][:ordinary]
    rows = []
    for label, options in GUARDS.items():
        short = options.get("short_threshold")
        words = tuple(HotWord(n, threshold=short if short and len(n) <= 2 else None)
                      for n in names)
        matcher = HotWordMatcher(HotWordRules(words),
                                 exact_tones_up_to=int(options["exact_tones_up_to"]))
        recall = {}
        for kind, pairs in planted.items():
            back = sum(matcher.apply(f"昨天{m}来找我")[0] == f"昨天{n}来找我" for n, m in pairs)
            recall[kind] = back / len(pairs) if pairs else 0.0
        false = sum(bool(matcher.apply(f"昨天{w}来找我")[1]) for w in others)
        rows.append(GuardRow(label, recall, false, len(others)))
    return rows


def run_text_bench(count: int = 5000, rounds: int = 20, extra_sentences: list[str] | None = None,
                   guard: bool = True) -> TextBench:
    sentences = list(SENTENCES) + list(extra_sentences or [])
    hot = bench_hot_words(count, sentences, rounds)
    itn = bench_itn(sentences, rounds * 10)
    return TextBench(count, round(hot.load_s, 3), hot.sentence, itn,
                     guard_study() if guard else [], round(hot.load_cpu_s, 3), hot.sentence_cpu)


def references(folder: Path) -> list[str]:
    """The Chinese reference texts of a ``manifest.tsv`` folder (as bench accuracy reads it)."""
    import csv

    with open(folder / "manifest.tsv", encoding="utf-8", newline="") as handle:
        return [row["reference_text"] for row in csv.DictReader(handle, delimiter="\t")
                if row.get("language") == "zh" and row.get("reference_text")]


def write_json(result: TextBench, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return path
