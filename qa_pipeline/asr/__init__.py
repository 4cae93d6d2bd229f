"""Speech recognition for calls: bundled Whisper base via faster-whisper, chunked decode, CER.

Heavy imports (faster-whisper, CTranslate2) happen only when a model is loaded.
"""

from qa_pipeline.asr.cer import CerResult, cer, edit_distance, normalize_for_cer, pool
from qa_pipeline.asr.decode import (
    TARGET_RATE,
    AudioChunk,
    AudioInfo,
    ChunkOptions,
    decode_all,
    iter_blocks,
    iter_chunks,
    probe,
)
from qa_pipeline.asr.model import WhisperSpec, clear_model_cache, load_model
from qa_pipeline.asr.simplify import to_simplified
from qa_pipeline.asr.transcribe import (
    Segment,
    TranscribeOptions,
    Transcript,
    iter_segments,
    speaker_of,
    transcribe_chunk,
    transcribe_file,
)

__all__ = [
    "TARGET_RATE",
    "AudioChunk",
    "AudioInfo",
    "CerResult",
    "ChunkOptions",
    "Segment",
    "TranscribeOptions",
    "Transcript",
    "WhisperSpec",
    "cer",
    "clear_model_cache",
    "decode_all",
    "edit_distance",
    "iter_blocks",
    "iter_chunks",
    "iter_segments",
    "load_model",
    "normalize_for_cer",
    "pool",
    "probe",
    "speaker_of",
    "to_simplified",
    "transcribe_chunk",
    "transcribe_file",
]
