"""Spoken Chinese numbers written the way people type them (inverse text normalisation).

The rules, in the order they run (each later rule sees the digits an earlier one wrote):

=========================  ==========================  ===================================
spoken                     written                     rule
=========================  ==========================  ===================================
幺九二点幺六八点幺点幺      192.168.1.1                 four digit groups joined by 点
百分之六点三 / 千分之五     6.3% / 5‰
十二分之七                  7/12
下午三点十五分              下午3:15                    H:MM, the 上午/下午 word kept;
三点半 / 八点一刻           3:30 / 8:15                 a bare hour stays 三点 unless a
十二点                      12点                        day-part word or two characters
七十八比九十六              78:96                       both sides numbers
二零二五年十月三日          2025年10月3日               a month is written only with a year
                                                        or a day beside it
一三三四五三一二二二一      13345312221                 three or more digits in a row
十五六个 / 三五百           15~16个 / 300~500           neighbours (and 三五) as a range
负三度 / 一万八             -3度 / 18000
三百二十四点七五克          324.75克                    the unit stays in Chinese
=========================  ==========================  ===================================

Left alone, because that is how they are written: a number of one character (一个人, 第一名,
三天) unless a measuring unit follows (三克 → 3克); anything beside 几 (十几万); and the fixed
phrases in :data:`FIXED_PHRASES` (一心一意, 三七二十一, 五四运动, 十三五, …).
"""

from __future__ import annotations

import re
from collections.abc import Callable

DIGIT_VALUES = {
    "零": 0, "〇": 0, "幺": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
BIG_UNITS = {"万": 10_000, "亿": 100_000_000}

# Idioms and fixed phrases whose numerals are words, not quantities.
FIXED_PHRASES = (
    "一心一意", "三七二十一", "一点一滴", "十有八九", "乱七八糟", "五四运动", "十三五", "十四五",
    "十二五", "一五一十", "三心二意", "四面八方", "千方百计", "九死一生", "一干二净", "一清二楚",
    "三三两两", "七上八下", "七嘴八舌", "七手八脚", "横七竖八", "四分五裂", "五花八门", "五颜六色",
    "六神无主", "八九不离十", "十之八九", "十全十美", "百分百", "千千万万", "成千上万",
    "十万八千里", "九九八十一", "三十六计", "三十而立", "七十二变", "十八般武艺", "五十步笑百步",
    "一举两得", "一石二鸟", "独一无二", "数一数二", "说一不二", "接二连三", "三番五次", "三言两语",
    "丢三落四", "颠三倒四", "不三不四", "朝三暮四", "低三下四", "一模一样", "二五仔",
    "一百八十度大转弯", "三长两短", "半斤八两", "九牛一毛", "一字千金", "千军万马", "万无一失",
    "一言九鼎", "九霄云外", "百发百中", "百里挑一", "一日千里", "一落千丈", "千钧一发", "千载难逢",
    "千丝万缕", "万紫千红", "二十四孝", "六亲不认", "七情六欲", "七七八八", "一五一十",
    "这一点", "那一点", "一点点", "一点儿", "有一点", "差一点", "一点都", "一点也",
    "星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "周一", "周二", "周三", "周四",
    "周五", "周六", "礼拜一", "礼拜二", "礼拜三", "礼拜四", "礼拜五", "礼拜六",
)

_NUM = "零〇一二两三四五六七八九十百千万亿"
_DIGIT = "零〇一二三四五六七八九幺"
_RUN = f"(?<![{_NUM}幺几])[{_NUM}]+(?![{_NUM}几])"
_DAYPART = "上午|下午|晚上|早上|早晨|凌晨|中午|傍晚|夜里|夜间|清晨"
# Units after which even a one-character number is written in digits.
MEASURE_UNITS = (
    "千克|公斤|毫克|克|吨|公里|千米|厘米|毫米|微米|纳米|米|毫升|升|摄氏度|华氏度|度|毫秒|秒钟|秒|"
    "分钟|小时|赫兹|千瓦|瓦|伏|毫安|安培|GB|MB|KB|TB|G|K|M|%"
)


def parse_number(spoken: str) -> int | None:
    """The value of a Chinese numeral such as 三百五十 or 一万八; None for anything else."""
    total = section = 0
    digit: int | None = None
    last_small: int | None = None
    last_big: int | None = None
    zero = False
    for ch in spoken:
        if ch in DIGIT_VALUES:
            value = DIGIT_VALUES[ch]
            if digit is not None:
                return None  # two digits in a row: a digit string or a range, not a value
            if value == 0:
                zero = True
            else:
                digit = value
        elif ch in SMALL_UNITS:
            unit = SMALL_UNITS[ch]
            if digit is None:
                if unit != 10 or section or total:
                    if not (unit == 10 and zero):  # 一百零十 is not said; 一千零十 is
                        return None
                digit = 1
            if last_small is not None and unit >= last_small:
                return None
            section += digit * unit
            digit, last_small, zero = None, unit, False
        elif ch in BIG_UNITS:
            unit = BIG_UNITS[ch]
            if digit is not None:
                section += digit
                digit = None
            if not section and not total:
                return None
            if last_big is not None and unit >= last_big and not section:
                return None
            if unit == BIG_UNITS["亿"]:
                total = (total + section) * unit
            else:
                total += section * unit
            section, last_small, last_big, zero = 0, None, unit, False
        else:
            return None
    if digit is not None:
        if not zero and last_small is not None and last_small >= 100:
            digit *= last_small // 10  # 三百五 = 350
        elif not zero and last_small is None and last_big is not None:
            digit *= last_big // 10  # 一万八 = 18000
        section += digit
    if not spoken or (digit is None and not section and not total and not zero):
        return None
    return total + section


def _digits(spoken: str) -> str:
    return "".join(str(DIGIT_VALUES[ch]) for ch in spoken)


def _is_digit_string(spoken: str) -> bool:
    return all(ch in _DIGIT for ch in spoken)


def _value(spoken: str) -> int | None:
    """A numeral's value, or a digit string's (二零二五 = 2025) when it has two or more digits."""
    if len(spoken) > 1 and _is_digit_string(spoken):
        return int(_digits(spoken))
    return parse_number(spoken)


def _range(spoken: str) -> str | None:
    """十五六 → 15~16, 三五百 → 300~500, 二三十 → 20~30; None when ``spoken`` is no range."""
    m = re.fullmatch("十([一二三四五六七八])([二三四五六七八九])", spoken)
    if m:
        a, b = DIGIT_VALUES[m[1]], DIGIT_VALUES[m[2]]
        return f"{10 + a}~{10 + b}" if b == a + 1 else None
    m = re.fullmatch("([一二三四五六七八])([二三四五六七八九])([十百千万])", spoken)
    if m:
        a, b = DIGIT_VALUES[m[1]], DIGIT_VALUES[m[2]]
        unit = SMALL_UNITS.get(m[3]) or BIG_UNITS[m[3]]
        if b == a + 1 or (a, b) == (3, 5):
            return f"{a * unit}~{b * unit}"
    return None


def _ip(m: re.Match[str]) -> str:
    return ".".join(_digits(group) for group in m[0].split("点"))


def _percent(m: re.Match[str]) -> str:
    value = 100 if m["n"] == "百" else _value(m["n"])
    if value is None:
        return m[0]
    decimals = f".{_digits(m['d'])}" if m["d"] else ""
    return f"{value}{decimals}{'%' if m['kind'] == '百' else '‰'}"


def _fraction(m: re.Match[str]) -> str:
    below, above = parse_number(m["below"]), parse_number(m["above"])
    if below is None or above is None or below == 0:
        return m[0]
    return f"{above}/{below}"


def _time(m: re.Match[str]) -> str:
    hour = parse_number(m["h"])
    if hour is None or hour > 24:
        return m[0]
    pre = m["pre"] or ""
    minute: int | None = None
    if m["m"] or m["m2"]:
        minute = parse_number(m["m"] or m["m2"])
    elif m["half"]:
        minute = 30
    elif m["q"]:
        minute = 15 if m["q"] == "一刻" else 45
    elif m["whole"]:
        minute = 0
    if minute is None:
        if pre or len(m["h"]) > 1:
            return f"{pre}{hour}点"
        return m[0]
    if minute > 59:
        return m[0]
    second = ""
    if m["s"]:
        s = parse_number(m["s"])
        if s is None or s > 59:
            return m[0]
        second = f":{s:02d}"
    return f"{pre}{hour}:{minute:02d}{second}"


def _ratio(m: re.Match[str]) -> str:
    a, b = parse_number(m["a"]), parse_number(m["b"])
    if a is None or b is None:
        return m[0]
    return f"{a}:{b}"


def _year(m: re.Match[str]) -> str:
    return f"{_digits(m['y'])}年"


def _month_day(m: re.Match[str]) -> str:
    if not m["year"] and not m["day"]:
        return m[0]
    month = parse_number(m["month"])
    out = f"{m['year'] or ''}{month}月"
    if m["day"]:
        day = parse_number(m["day"])
        if day is None or not 1 <= day <= 31:
            return m[0]
        out += f"{day}{m['suffix']}"
    return out


def _number(m: re.Match[str]) -> str:
    run, negative, decimals = m["n"], m["neg"], m["d"]
    if _is_digit_string(run) and "两" not in run:
        if len(run) >= 3 or (len(run) == 2 and (set(run) & set("零〇幺"))):
            text = ("-" if negative else "") + _digits(run)
            return text + (f".{_digits(decimals)}" if decimals else "") + (m["unit"] or "")
    value = parse_number(run)
    if value is None:
        spread = _range(run)
        return spread if spread is not None and not negative and not decimals else m[0]
    if len(run) == 1 and not negative and not decimals and not m["unit"]:
        return m[0]
    text = f"{'-' if negative else ''}{value}"
    if decimals:
        text += f".{_digits(decimals)}"
    return text + (m["unit"] or "")


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(f"(?<![{_DIGIT}点])[{_DIGIT}]+(?:点[{_DIGIT}]+){{3}}(?![{_DIGIT}点])"), _ip),
    (re.compile(f"(?<![{_NUM}])(?P<kind>[百千])分之(?P<n>百|{_RUN})(?:点(?P<d>[{_DIGIT}]+))?"),
     _percent),
    (re.compile(f"(?P<below>{_RUN})分之(?P<above>{_RUN})"), _fraction),
    (re.compile(
        f"(?:(?P<pre>{_DAYPART})|(?<![这那哪有差快慢多少好早晚]))(?P<h>{_RUN})点"
        f"(?:(?P<m>{_RUN})分(?:(?P<s>{_RUN})秒)?|(?P<half>半)|(?P<q>一刻|三刻)|(?P<whole>整)"
        f"|(?P<m2>[二三四五]?十[一二三四五六七八九]?)(?![{_NUM}分秒])"
        f"|(?![{_DIGIT}]))"
    ), _time),
    (re.compile(f"(?P<a>{_RUN})比(?P<b>{_RUN})"), _ratio),
    (re.compile(f"(?<![{_DIGIT}])(?P<y>[{_DIGIT}]{{4}}"
                f"|[{_DIGIT}]{{2}}(?=年[十一二三四五六七八九]+月))年"), _year),
    (re.compile(
        f"(?P<year>\\d{{2,4}}年)?(?<![{_NUM}])(?P<month>十[一二]?|[一二三四五六七八九])月"
        f"(?:(?P<day>{_RUN})(?P<suffix>[日号]))?"
    ), _month_day),
    (re.compile(
        f"(?P<neg>负)?(?P<n>{_RUN}|(?<![{_NUM}几])[{_DIGIT}]{{2,}}(?![{_NUM}几]))"
        f"(?:点(?P<d>[{_DIGIT}]+)(?![{_NUM}]))?(?P<unit>{MEASURE_UNITS})?"
    ), _number),
)

_FIXED = re.compile("|".join(sorted(map(re.escape, FIXED_PHRASES), key=len, reverse=True)))


def _convert(text: str) -> str:
    for pattern, rewrite in _RULES:
        text = pattern.sub(rewrite, text)
    return text


def inverse_normalize(text: str) -> str:
    """``text`` with its spoken Chinese numbers written in digits (see the module's table)."""
    if not any(ch in _NUM or ch == "幺" for ch in text):
        return text
    out, start = [], 0
    for m in _FIXED.finditer(text):
        out.append(_convert(text[start:m.start()]))
        out.append(m[0])
        start = m.end()
    out.append(_convert(text[start:]))
    return "".join(out)
