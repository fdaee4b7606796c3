"""Whisper decoding over the exported ONNX graphs, with the safeguards Whisper needs on real speech.

sherpa-onnx runs Whisper greedily, once, on features padded in a way the model never saw. On real
speech that loses sentence endings and sometimes loops. This module drives the same encoder and
decoder files through onnxruntime the way Whisper was designed to be decoded:

- a 30 s window of zero-padded samples (see whisper_features; shorter for dictations),
- timestamps, and decoding that goes on where the text stopped while the VAD heard more speech,
- language detection and the no-speech probability from the first decoder step,
- greedy or beam search at temperature 0, then sampling at rising temperatures while the text
  fails a check (compression ratio, average log-probability, repeated phrases, text too long or
  too short for the speech heard) and the best passing candidate kept, never simply the longest.

The loop runs either decoder layout (see whisper_decoders): our converter's step decoder, or
sherpa-onnx's own, so a Whisper folder made for sherpa-onnx decodes here too.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from capswriter.asr.coverage import honest_segments, without_repeated_head
from capswriter.asr.guard import LOOPING, compression_ratio, cut_repetition, text_problem
from capswriter.asr.loudness import FRAME, loud_frames
from capswriter.asr.text import join_texts
from capswriter.asr.whisper_decoders import State, load_decoder
from capswriter.asr.whisper_features import HOP_LENGTH, N_FRAMES, N_SAMPLES, log_mel
from capswriter.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

LOW_LOGPROB = "unlikely text"
SECONDS_PER_TIMESTAMP = 0.02
# Whisper's limit on where the first segment may start: <|1.00|>.
MAX_INITIAL_TIMESTAMP = 50
# Speech the VAD heard after the text's last timestamp (and this margin) that is worth a
# further window.
CONTINUE_MARGIN_S = 0.3
MIN_UNREAD_SPEECH_S = 0.5
# Windows one piece may take (the first and the ones going on after an early end).
MAX_WINDOWS_PER_PIECE = 6
# How far a segment's timestamps may be from the speech the VAD heard and still be kept.
SEGMENT_SLACK_S = 0.5
# ...or how much of it must be as loud as speech, for speech the VAD missed.
LOUD_SHARE = 0.5
# Languages tried, most likely first, when no text in the detected one passes the checks; a
# language less likely than this is not worth a try.
LANGUAGES_TRIED = 3
MIN_LANGUAGE_PROBABILITY = 0.05
# A detection this sure is not second-guessed: failing text then means noise, not language.
SURE_LANGUAGE_PROBABILITY = 0.5
# A text whose last 48 text tokens are one phrase of at most 12 tokens, four times or more,
# is looping (checked every 8 steps); speech does not do that.
LOOP_TAIL_TOKENS = 48
LOOP_MIN_REPEATS = 4
LOOP_CHECK_EVERY = 8
# Whisper writes about 3 tokens a second of English speech and up to 8 of fast Mandarin.
MIN_TOKENS = 20
MAX_TOKENS_PER_SECOND = 12


@dataclass(frozen=True)
class DecodeOptions:
    """How a window is decoded; the defaults are Whisper's own (as in openai-whisper)."""

    beam_size: int = 1
    # Timestamped decoding, as Whisper was mostly trained; it also shows which part of the
    # window the text covers.
    timestamps: bool = True
    best_of: int = 5  # candidates sampled at each temperature above 0
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    # Whisper writes at most half its text context per window.
    max_new_tokens: int = 224
    # Audio shorter than the window is read in a window this much longer than itself (at least
    # min_window_s); None reads every piece in Whisper's full 30 s window.
    window_pad_s: float | None = None
    min_window_s: float = 10.0
    # ...but only audio up to this long; longer audio gets the full window.
    sized_window_max_s: float = math.inf
    # Decoding one piece may do, in decoder rows × steps (one step of a 5-beam search is 5),
    # plus this much per second of its audio; past it no retry starts and the least bad text
    # so far is kept. Counted in work, not seconds, so the same audio reads the same on any
    # machine under any load. On this project's test machine a row-step takes about 2.4 ms
    # (one thread): 500 + 120 per second is ~1.2 s + 0.3 s per second of audio, about twice
    # what a piece that passes at once needs.
    retry_budget_steps: int = 500
    retry_budget_steps_per_audio_s: int = 120
    # Beam and sampling candidates are drawn from a fixed seed so a file reads the same twice.
    seed: int = 0


@dataclass
class WindowResult:
    """The text of one window and the figures the fallback decisions were made on."""

    text: str
    tokens: list[int]
    language: str
    language_probability: float
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    attempts: int = 1
    # False when every candidate failed a check and this is the least bad of them.
    passed: bool = True
    # Why each rejected candidate was rejected, in the order they were tried.
    problems: list[str] = field(default_factory=list)
    # (start, end, text) in seconds from the window's start, when decoded with timestamps.
    segments: list[tuple[float, float, str]] = field(default_factory=list)


class WhisperOnnx:
    """The encoder and decoder sessions of one Whisper model plus its vocabulary."""

    def __init__(
        self, encoder: Path, decoder: Path, tokens: Path, num_threads: int = 1
    ) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        # Prepacked weights are a second copy of the encoder's matrices (50 MB in float32) and
        # buy nothing with 1500 rows per product; the decoder's few rows per step need them.
        self.encoder = ort.InferenceSession(
            str(encoder), _session_options(num_threads, prepack=False), providers=providers
        )
        meta = self.encoder.get_modelmeta().custom_metadata_map
        session = ort.InferenceSession(
            str(decoder), _session_options(num_threads, prepack=True), providers=providers
        )
        self.decoder = load_decoder(decoder, session, meta)
        self.n_mels = int(meta["n_mels"])
        self.n_text_ctx = int(meta["n_text_ctx"])
        self.n_vocab = int(meta["n_vocab"])
        self.sot = int(meta["sot"])
        self.eot = int(meta["eot"])
        self.transcribe_token = int(meta["transcribe"])
        self.no_timestamps = int(meta["no_timestamps"])
        self.no_speech = int(meta["no_speech"])
        self.blank = int(meta.get("blank_id", 220))
        codes = meta["all_language_codes"].split(",")
        ids = [int(t) for t in meta["all_language_tokens"].split(",")]
        self.language_tokens = dict(zip(codes, ids, strict=True))
        self.multilingual = meta.get("is_multilingual", "1") == "1"
        self._vocab = _read_tokens(tokens)
        suppress = [int(t) for t in meta.get("non_speech_tokens", "").split(",") if t]
        # Text tokens only: every special token (languages, tasks, timestamps) is masked, except
        # the end of text, since this decoder writes plain text without timestamps.
        self._suppress = np.zeros(self.n_vocab, dtype=bool)
        self._suppress[[t for t in suppress if t < self.n_vocab]] = True
        # Special tokens are never written; timestamps (from <|0.00|> on) are, when asked for.
        self.timestamp_begin = self.no_timestamps + 1
        self._suppress[self.eot + 1 : self.timestamp_begin] = True
        self._rng = np.random.default_rng(0)

    # ---- model calls -------------------------------------------------------------------

    def encode(self, samples: np.ndarray, n_frames: int = N_FRAMES) -> tuple[np.ndarray, ...]:
        """Cross-attention keys and values of `samples` zero-padded to `n_frames`."""
        mel = log_mel(samples, n_frames, self.n_mels)[None]
        cross_k, cross_v = self.encoder.run(None, {"mel": mel})
        return cross_k, cross_v

    # ---- decoding ------------------------------------------------------------------------

    def text_of(self, tokens: list[int]) -> str:
        raw = b"".join(self._vocab.get(t, b"") for t in tokens if t < self.eot)
        return raw.decode("utf-8", errors="ignore").strip()

    def detect(
        self, cross: tuple[np.ndarray, ...], language: str
    ) -> tuple[list[tuple[str, float]], float, State]:
        """(languages with their probability, most likely first; no-speech probability; the
        decoder cache after <|startoftranscript|>).

        Both probabilities come from the step after <|startoftranscript|>, which Whisper was
        trained to answer with the language (or "no speech"), so they cost one decoder step.
        A language given by the caller is the only candidate.
        """
        logits, state = self.decoder.run(
            np.array([[self.sot]]), self.decoder.start(cross[0], cross[1])
        )
        first = logits[0, -1].astype(np.float64)
        no_speech_prob = float(_softmax(first)[self.no_speech])
        if not self.multilingual:
            return [("en", 1.0)], no_speech_prob, state
        if language:
            return [(language, 1.0)], no_speech_prob, state
        codes = list(self.language_tokens)
        scores = _softmax(first[[self.language_tokens[c] for c in codes]])
        order = np.argsort(-scores)
        ranking = [(codes[i], float(scores[i])) for i in order]
        return ranking, no_speech_prob, state

    def decode_window(
        self,
        samples: np.ndarray,
        language: str = "",
        options: DecodeOptions | None = None,
        spans: list[tuple[int, int]] | None = None,
        n_frames: int = N_FRAMES,
        budget: RetryBudget | None = None,
    ) -> WindowResult:
        """Text of up to 30 s of audio, with Whisper's temperature fallback and our own checks.

        When the language was detected and no text in it passes the checks, the next likely
        languages are tried too: a wrong guess on accented or sung speech reads as gibberish
        that fails every check, while the right language gives a text that passes.
        """
        options = options or DecodeOptions()
        seconds = len(samples) / SAMPLE_RATE
        if budget is None:
            budget = RetryBudget(seconds, options)
        # A text longer than speech can carry is a loop; stop writing it early.
        options = dataclasses.replace(options, max_new_tokens=min(
            options.max_new_tokens, int(MIN_TOKENS + MAX_TOKENS_PER_SECOND * seconds)
        ))  # fmt: skip
        cross = self.encode(samples, n_frames)
        ranking, no_speech_prob, sot_cache = self.detect(cross, language)
        speech = spans if spans is not None else [(0, len(samples))]
        tried: list[WindowResult] = []
        for code, probability in ranking[:LANGUAGES_TRIED]:
            if tried and (
                probability < MIN_LANGUAGE_PROBABILITY
                or ranking[0][1] >= SURE_LANGUAGE_PROBABILITY
                or budget.spent
            ):
                break
            result = self._decode_in(
                sot_cache, code, probability, no_speech_prob, speech, options, budget
            )
            if result.passed or not result.text:
                return result
            tried.append(result)
        best = _least_bad(tried, [r.problems[-1] for r in tried])
        best.problems = [p for r in tried for p in r.problems]
        best.attempts = sum(r.attempts for r in tried)
        return best

    def _decode_in(
        self,
        sot_cache: State,
        language: str,
        language_prob: float,
        no_speech_prob: float,
        spans: list[tuple[int, int]],
        options: DecodeOptions,
        budget: RetryBudget,
    ) -> WindowResult:
        """Decode in one language, from temperature 0 upwards until a text passes the checks
        (or the window's retry budget runs out)."""
        prompt = []
        if self.multilingual:
            prompt = [self.language_tokens[language], self.transcribe_token]
        if not options.timestamps:
            prompt.append(self.no_timestamps)
        self._rng = np.random.default_rng(options.seed)
        candidates: list[WindowResult] = []
        problems: list[str] = []
        for temperature in options.temperatures:
            if candidates and budget.spent:
                break
            tokens, avg_logprob, looped = self._generate(
                sot_cache, prompt, temperature, options, budget
            )
            text = self.text_of(tokens)
            result = WindowResult(
                text, tokens, language, language_prob, avg_logprob, no_speech_prob,
                compression_ratio(text), temperature, len(candidates) + 1,
            )  # fmt: skip
            if options.timestamps:
                result.segments = self.segments_of(tokens)
            problem = LOOPING if looped else self._problem(result, spans, options)
            if problem is None:
                result.problems = problems
                return self._silence_checked(result, options)
            problems.append(problem)
            candidates.append(result)
            if no_speech_prob > options.no_speech_threshold and problem == LOW_LOGPROB:
                break  # Whisper's rule: unsure text over likely silence is silence, not retried
        best = _least_bad(candidates, problems)
        best.problems, best.passed, best.attempts = problems, False, len(candidates)
        return self._silence_checked(best, options)

    def _silence_checked(self, result: WindowResult, options: DecodeOptions) -> WindowResult:
        if (
            result.no_speech_prob > options.no_speech_threshold
            and result.avg_logprob < options.log_prob_threshold
        ):
            result.text, result.tokens, result.segments = "", [], []
        return result

    def _problem(
        self, result: WindowResult, spans: list[tuple[int, int]], options: DecodeOptions
    ) -> str | None:
        """Why this text should not be trusted, or None.

        With timestamps the text is measured against the speech up to its last timestamp: a
        text that ends early is then not wrong, only unfinished, and decode_piece goes on
        from where it ended instead of sampling the whole window again.
        """
        if result.avg_logprob < options.log_prob_threshold:
            return LOW_LOGPROB
        until = covered_until(result.segments) if result.segments else math.inf
        speech = sum(max(0, min(b, until * SAMPLE_RATE) - a) for a, b in spans) / SAMPLE_RATE
        return text_problem(result.text, speech)

    def decode_piece(
        self,
        samples: np.ndarray,
        spans: list[tuple[int, int]],
        language: str = "",
        options: DecodeOptions | None = None,
        budget: RetryBudget | None = None,
    ) -> PieceResult:
        """Text of a piece of at most 30 s whose speech `spans` (sample ranges) the VAD found.

        Whisper sometimes closes its text after a first sentence with speech still unread, or
        stretches a sentence's timestamps over the speech after it (see coverage). With
        timestamps we see where the text stopped, once checked against the speech; while the
        VAD heard speech after that point, decoding goes on from there in a new window.

        Retries stop when `budget` is spent (by default the piece's own).
        """
        options = options or DecodeOptions()
        # One retry budget for the whole piece, however many windows it takes.
        if budget is None:
            budget = RetryBudget(len(samples) / SAMPLE_RATE, options)
        seek = 0
        segments: list[tuple[float, float, str]] = []
        results: list[WindowResult] = []
        after_cut = False
        for _ in range(MAX_WINDOWS_PER_PIECE):
            inside = [(a - seek, b - seek) for a, b in spans if b > seek]
            inside = [(max(0, a), b) for a, b in inside]
            window = samples[seek : seek + N_SAMPLES]
            result = self.decode_window(
                window, language, options, inside, window_frames(len(window), options), budget
            )
            if seek and not result.passed:
                # A window going on after another holds only what that one left out, often a
                # breath or a word's tail; text in it that fails every check is noise
                # ("Jake."), not a reason to distrust the piece.
                break
            results.append(result)
            language = language or result.language
            offset = seek / SAMPLE_RATE
            if not options.timestamps or not result.segments:
                if result.text:
                    end = len(window) / SAMPLE_RATE
                    segments.append((offset, offset + end, result.text))
                break
            window_end = len(window) / SAMPLE_RATE
            loud = loud_frames(window, inside)
            looped = not result.passed and result.problems[-1] == LOOPING
            timed, cut = honest_segments(result.segments, inside, window_end)
            for start, end, text in timed:
                end = min(end, window_end)
                if looped:
                    text = cut_repetition(text)
                    if not text or any(text == t for _, _, t in segments):
                        break  # the rest of the window is the loop
                if after_cut and segments:
                    # This window starts where a segment was cut back: its first words may
                    # be that segment's last ones.
                    text = without_repeated_head(segments[-1][2], text)
                    after_cut = False
                if text and _heard(start, end, inside, loud):
                    segments.append((offset + start, offset + end, text))
            after_cut = cut
            until = covered_until(timed)
            rest = [(a, b) for a, b in inside if b > (until + CONTINUE_MARGIN_S) * SAMPLE_RATE]
            unread = sum(b - max(a, int(until * SAMPLE_RATE)) for a, b in rest) / SAMPLE_RATE
            if unread < MIN_UNREAD_SPEECH_S or until <= 0:
                break
            # Go on from the end of the text, or from the next speech if a pause follows it.
            seek += max(int(until * SAMPLE_RATE), rest[0][0] - int(0.2 * SAMPLE_RATE))
        return PieceResult(segments, language, all(r.passed for r in results), len(results))

    def _generate(
        self,
        sot_cache: State,
        prompt: list[int],
        temperature: float,
        options: DecodeOptions,
        budget: RetryBudget,
    ) -> tuple[list[int], float, bool]:
        """(tokens, average log-probability, whether it was stopped in a loop)."""
        if temperature == 0 and options.beam_size > 1:
            return self._beam_search(sot_cache, prompt, options, budget)
        n = 1 if temperature == 0 else options.best_of
        state = self.decoder.select(sot_cache, np.zeros(n, dtype=int))
        tokens = np.tile(np.array(prompt, dtype=np.int64), (n, 1))
        logits, state = self.decoder.run(tokens, state)
        used = 1 + len(prompt)  # <|startoftranscript|> and the prompt
        last = logits[:, -1]
        seqs: list[list[int]] = [[] for _ in range(n)]
        sum_logprob = np.zeros(n)
        finished = np.zeros(n, dtype=bool)
        looped = np.zeros(n, dtype=bool)
        limit = min(options.max_new_tokens, self.n_text_ctx - used)
        for step in range(limit):
            if step % LOOP_CHECK_EVERY == 0:
                for i in np.flatnonzero(~finished):
                    looped[i] = finished[i] = self._loops(seqs[i])
                if finished.all():
                    break
            logprobs = self._logprobs(last, seqs, options.timestamps)
            if temperature == 0:
                chosen = np.argmax(last, axis=-1)
            else:
                chosen = _sample(last / temperature, self._rng)
            for i in range(n):
                if finished[i]:
                    continue
                sum_logprob[i] += logprobs[i, chosen[i]]
                if chosen[i] == self.eot:
                    finished[i] = True
                else:
                    seqs[i].append(int(chosen[i]))
            if finished.all():
                break
            chosen = np.where(finished, self.eot, chosen)
            logits, state = self.decoder.run(chosen[:, None], state)
            budget.spend(n)
            last = logits[:, -1]
        # The likeliest candidate per token; one stopped in a loop only if all of them were.
        scores = sum_logprob / np.array([len(seq) + 1 for seq in seqs])
        best = max(range(n), key=lambda i: (not looped[i], scores[i]))
        return seqs[best], float(scores[best]), bool(looped[best])

    def _beam_search(
        self,
        sot_cache: State,
        prompt: list[int],
        options: DecodeOptions,
        budget: RetryBudget,
    ) -> tuple[list[int], float, bool]:
        """Beam search as in openai-whisper: keep the best `beam_size` open sequences, stop once
        as many have ended, rank the ended ones by log-probability per token. Returns the
        tokens, their average log-probability and whether the search was stopped in a loop."""
        beam = options.beam_size
        tokens = np.array([prompt], dtype=np.int64)
        logits, state = self.decoder.run(tokens, sot_cache)
        used = 1 + len(prompt)  # <|startoftranscript|> and the prompt
        last = logits[:, -1]
        seqs: list[list[int]] = [[]]  # the open sequences; all beams start identical
        scores = np.zeros(1)
        done: list[tuple[list[int], float]] = []
        limit = min(options.max_new_tokens, self.n_text_ctx - used)
        looped = False
        for step in range(limit):
            if step % LOOP_CHECK_EVERY == 0 and self._loops(seqs[0]):
                looped = True  # the likeliest open sequence writes the same phrase again and again
                break
            logprobs = self._logprobs(last[: len(seqs)], seqs, options.timestamps)
            # Each sequence's `beam + 1` likeliest next tokens, then all of them best first.
            top = _top_k(logprobs, beam + 1)
            totals = scores[:, None] + np.take_along_axis(logprobs, top, axis=-1)
            keep: list[tuple[float, int, int]] = []
            for flat in np.argsort(-totals, axis=None, kind="stable"):
                i, j = divmod(int(flat), beam + 1)
                score, token = float(totals[i, j]), int(top[i, j])
                if token == self.eot:
                    if len(done) < beam:
                        done.append((seqs[i], score))
                else:
                    keep.append((score, i, token))
                if len(keep) == beam:
                    break
            if len(done) >= beam or not keep:
                break
            source = np.array([i for _, i, _ in keep])
            seqs = [seqs[i] + [token] for _, i, token in keep]
            scores = np.array([score for score, _, _ in keep])
            state = self.decoder.select(state, source)
            logits, state = self.decoder.run(np.array([[token] for _, _, token in keep]), state)
            budget.spend(len(keep))
            last = logits[:, -1]
        if done:
            looped = False
        else:  # out of room, or looping: the open sequences are the candidates
            done = list(zip(seqs, scores, strict=True))
        ranked_done = [(s / (len(t) + 1), t) for t, s in done]
        avg, best = max(ranked_done, key=lambda r: r[0])
        return best, float(avg), looped and self._loops(best)

    def _loops(self, tokens: list[int]) -> bool:
        """Whether the text so far ends in a loop: its last LOOP_TAIL_TOKENS text tokens are one
        phrase of at most a quarter of that, written again and again.

        Such a sequence runs to the token limit and fails the checks anyway; stopping it here
        saves most of a window's decoding (a loop is what music and noise mostly produce).
        Timestamps are left out, since a looping text repeats its words under new times.
        """
        text = [t for t in tokens[-3 * LOOP_TAIL_TOKENS :] if t < self.timestamp_begin]
        tail = text[-LOOP_TAIL_TOKENS:]
        if len(tail) < LOOP_TAIL_TOKENS:
            return False
        return any(
            tail[period:] == tail[:-period]
            for period in range(1, LOOP_TAIL_TOKENS // LOOP_MIN_REPEATS + 1)
        )

    def _logprobs(self, logits: np.ndarray, seqs: list[list[int]], timestamps: bool) -> np.ndarray:
        """Log-probabilities of each sequence's next token once the tokens Whisper may not write
        next are ruled out (openai-whisper's SuppressTokens, SuppressBlank and
        ApplyTimestampRules). `logits` is changed in place."""
        logits[:, self._suppress] = -np.inf
        if not timestamps:
            logits[:, self.timestamp_begin :] = -np.inf
        ts = self.timestamp_begin
        for row, seq in zip(logits, seqs, strict=False):
            if not seq:
                # A text that starts with a blank or ends at once is what silence produces.
                row[[self.blank, self.eot]] = -np.inf
            if not timestamps:
                continue
            if not seq:
                # Text opens with a timestamp, and speech starts within the first second.
                row[:ts] = -np.inf
                row[ts + MAX_INITIAL_TIMESTAMP + 1 :] = -np.inf
                continue
            last_was_stamp = seq[-1] >= ts
            closed_pair = len(seq) < 2 or seq[-2] >= ts
            if last_was_stamp and closed_pair:
                row[ts:] = -np.inf  # after "<|t1|><|t2|>" comes text or the end
            elif last_was_stamp:
                row[: self.eot] = -np.inf  # a segment's text ended: its closing timestamp
            stamps = [t for t in seq if t >= ts]
            if stamps:  # time never goes back; a new segment starts after the last one
                row[ts : stamps[-1] + (0 if last_was_stamp and not closed_pair else 1)] = -np.inf
        logprobs = _log_softmax(logits)
        if timestamps:
            for k, seq in enumerate(seqs):
                if not seq:
                    continue
                row = logprobs[k]
                stamp_mass = np.logaddexp.reduce(row[ts:])
                if stamp_mass > row[:ts].max():
                    # A timestamp is likelier than any text token: write one.
                    logits[k, :ts] = -np.inf
                    logprobs[k] = _log_softmax(logits[k])
        return logprobs

    def segments_of(self, tokens: list[int]) -> list[tuple[float, float, str]]:
        """(start, end, text) in seconds from the window's start, from timestamped tokens."""
        ts = self.timestamp_begin
        out: list[tuple[float, float, str]] = []
        start: float | None = None
        text: list[int] = []
        for token in tokens:
            if token < ts:
                text.append(token)
                continue
            seconds = (token - ts) * SECONDS_PER_TIMESTAMP
            if start is None:
                start = seconds
            elif text:
                out.append((start, seconds, self.text_of(text)))
                start, text = None, []
            else:
                start = seconds
        if text:  # text after the last timestamp runs to the end of the window
            out.append((start or 0.0, math.inf, self.text_of(text)))
        return out


@dataclass
class PieceResult:
    """A piece's text as timed segments (seconds from the piece's start)."""

    segments: list[tuple[float, float, str]]
    language: str
    passed: bool
    windows: int

    @property
    def text(self) -> str:
        return join_texts([text for _, _, text in self.segments])


def _heard(start: float, end: float, spans: list[tuple[int, int]], loud: np.ndarray) -> bool:
    """Whether a timed segment lies where there is speech: it overlaps speech the VAD heard
    (with slack for Whisper's timing) or audio as loud as speech (`loud`, per 100 ms frame).

    "Thank you." or "Subtitles by…" written over the silence after the last word is the
    commonest Whisper invention; its timestamps put it where there is no speech at all. A
    shout the VAD missed is loud, and stays.
    """
    slack = SEGMENT_SLACK_S * SAMPLE_RATE
    a, b = start * SAMPLE_RATE - slack, end * SAMPLE_RATE + slack
    if any(x < b and y > a for x, y in spans):
        return True
    frames = loud[int(start * SAMPLE_RATE) // FRAME : math.ceil(end * SAMPLE_RATE / FRAME)]
    return frames.size > 0 and frames.mean() >= LOUD_SHARE


class RetryBudget:
    """The decoding the retries of one piece may still do, in decoder rows × steps."""

    def __init__(self, seconds: float, options: DecodeOptions) -> None:
        self.left = options.retry_budget_steps + options.retry_budget_steps_per_audio_s * seconds

    def spend(self, row_steps: int) -> None:
        self.left -= row_steps

    @property
    def spent(self) -> bool:
        return self.left <= 0


def window_frames(n_samples: int, options: DecodeOptions) -> int:
    """Encoder frames to read `n_samples` in: the full window, or a shorter one for short audio
    (the encoder's cost grows with its input, and dictations are mostly a few seconds)."""
    if options.window_pad_s is None or n_samples / SAMPLE_RATE > options.sized_window_max_s:
        return N_FRAMES
    seconds = max(n_samples / SAMPLE_RATE + options.window_pad_s, options.min_window_s)
    return min(N_FRAMES, int(seconds * SAMPLE_RATE) // HOP_LENGTH)


def covered_until(segments: list[tuple[float, float, str]]) -> float:
    """Seconds from the window's start up to which the segments' text reaches."""
    ends = [end for _, end, _ in segments if end != math.inf]
    if any(end == math.inf for _, end, _ in segments):
        return math.inf
    return max(ends, default=0.0)


def _least_bad(candidates: list[WindowResult], problems: list[str]) -> WindowResult:
    """Of texts that all failed a check, the most likely one that at least does not loop."""
    not_looping = [c for c, p in zip(candidates, problems, strict=True) if p != LOOPING]
    return max(not_looping or candidates, key=lambda c: c.avg_logprob)


def _session_options(num_threads: int, prepack: bool) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, num_threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # onnxruntime's arena keeps the peak of the largest window for the life of the worker;
    # without it a worker stays 150 MB smaller after 28 s pieces at the same speed.
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    return options


def _read_tokens(path: Path) -> dict[int, bytes]:
    vocab: dict[int, bytes] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            vocab[int(parts[1])] = base64.b64decode(parts[0])
    return vocab


# Tokens this far (in log-probability) below a sequence's likeliest one are not searched for
# its best few; when fewer than asked for are this close, the whole vocabulary is.
_TOP_K_MARGIN = 10.0


def _top_k(logprobs: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's `k` largest values, largest first.

    A next-token distribution puts nearly all its mass on a handful of tokens, so each row's
    best are found among the few near its maximum rather than by partitioning all 51865.
    """
    out = np.empty((len(logprobs), k), dtype=np.int64)
    for r, row in enumerate(logprobs):
        near = np.flatnonzero(row >= row.max() - _TOP_K_MARGIN)
        if len(near) < k:
            near = np.argpartition(-row, k)[:k]
        out[r] = near[np.argsort(-row[near], kind="stable")[:k]]
    return out


def _sample(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row, drawn with probability softmax(logits).

    The largest of logits plus Gumbel noise is such a draw (the Gumbel-max trick), which
    takes one vectorized pass instead of a cumulative sum per row.
    """
    uniform = rng.random(logits.shape, dtype=np.float32)
    with np.errstate(divide="ignore"):  # a draw of exactly 0 only rules its token out
        return np.argmax(logits - np.log(-np.log(uniform)), axis=-1)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - np.max(x, axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))

