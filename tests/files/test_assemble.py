"""Pieces' transcripts become one result the same way in-process and on the server."""

from __future__ import annotations

from capswriter.asr.result import Segment, Transcript
from capswriter.files.assemble import assemble_pieces


def piece(text: str, language: str = "", segments: list[Segment] | None = None) -> Transcript:
    return Transcript(text, audio_seconds=2.0, decode_seconds=0.1, language=language,
                      segments=segments or [])


def test_a_tie_between_languages_goes_to_the_first_heard_whatever_the_order_of_hashing() -> None:
    for first, second in (("de", "en"), ("en", "de"), ("zh", "ja")):
        pieces = [(piece("a", first), 0.0, 2.0), (piece("b", second), 2.0, 4.0)]
        assert assemble_pieces(pieces).language == first


def test_the_language_most_pieces_were_heard_in_wins() -> None:
    pieces = [(piece("a", "en"), 0.0, 2.0), (piece("b", "de"), 2.0, 4.0),
              (piece("c", "de"), 4.0, 6.0)]
    assert assemble_pieces(pieces).language == "de"


def test_without_a_detected_language_the_requested_one_is_kept() -> None:
    assert assemble_pieces([(piece("hello"), 0.0, 2.0)], language="en").language == "en"
    assert assemble_pieces([(piece("hello"), 0.0, 2.0)]).language == ""


def test_segments_move_to_source_time_and_stay_inside_their_piece() -> None:
    words = piece("one two", "en", [Segment(0.0, 1.0, "one"), Segment(1.0, 2.5, "two")])
    assembly = assemble_pieces([(piece("zero", "en"), 0.0, 3.0), (words, 3.0, 5.0)])
    assert [(s.start, s.end) for s in assembly.segments] == [(0.0, 3.0), (3.0, 4.0), (4.0, 5.0)]
    assert assembly.text.split() == ["Zero", "one", "two"]
