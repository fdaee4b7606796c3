"""Which language codes a model accepts, so a wrong one is refused before it reaches sherpa-onnx
(which ends the whole process on a language it does not know)."""

from __future__ import annotations

from capswriter.asr.manifest import ModelManifest
from capswriter.errors import UnsupportedLanguage

# Whisper's codes in token order (multilingual models).
WHISPER_LANGUAGES = tuple(
    "en,zh,de,es,ru,ko,fr,ja,pt,tr,pl,ca,nl,ar,sv,it,id,hi,fi,vi,he,uk,el,ms,cs,ro,da,hu,ta,no,"
    "th,ur,hr,bg,lt,la,mi,ml,cy,sk,te,fa,lv,bn,sr,az,sl,kn,et,mk,br,eu,is,hy,ne,mn,bs,kk,sq,sw,"
    "gl,mr,pa,si,km,sn,yo,so,af,oc,ka,be,tg,sd,gu,am,yi,lo,uz,fo,ht,ps,tk,nn,mt,sa,lb,my,bo,tl,"
    "mg,as,tt,haw,ln,ha,ba,jw,su".split(",")
)


def accepted_languages(manifest: ModelManifest) -> tuple[str, ...] | None:
    """Codes the model takes besides "" (auto); None when any value is passed through."""
    if manifest.kind == "whisper":
        if manifest.language.startswith("en") and manifest.language != "multi":
            return ("en",)
        return WHISPER_LANGUAGES
    if manifest.kind == "sense_voice":
        return ("auto", "zh", "en", "ja", "ko", "yue")
    return None  # other kinds take no language argument


def check_language(manifest: ModelManifest, language: str) -> str:
    """`language` itself if the model accepts it; raises UnsupportedLanguage naming the choices."""
    choices = accepted_languages(manifest)
    if not language or choices is None or language in choices:
        return language
    shown = ", ".join(choices[:12]) + (", …" if len(choices) > 12 else "")
    raise UnsupportedLanguage(
        f"language '{language[:16]}' is not one {manifest.name} knows; "
        f"leave it empty to detect it, or use one of {shown}"
    )
