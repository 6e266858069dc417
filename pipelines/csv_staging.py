"""CSV files in another encoding than UTF-8, ingested through a staged UTF-8 copy.

TFX 1.16's CsvExampleGen decodes every line as UTF-8 (`line.decode('utf-8')` in its
executor) and has no encoding option. With `data.encoding` set to another encoding, a
local run first transcodes the files its patterns match into
`<output>/staged-data/<key>/` (same relative paths, same modification times, so
ExampleGen's span resolution and input fingerprints behave as on the originals) and
ingests that copy. Each file is written beside the copy and renamed into place, so a
failure never leaves a half-written file where ExampleGen reads; files whose source
is unchanged are not rewritten; copies of files that no longer exist are removed.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import shutil
from pathlib import Path

from retrain.pipelines.config import ConfigError, RetrainConfig
from retrain.pipelines.preflight import check_data, decoded_lines, matching_files

STAGED_DATA_DIR = "staged-data"


def needs_staging(config: RetrainConfig) -> bool:
    """True when the config's CSV files must be transcoded before CsvExampleGen reads them."""
    return config.data.format == "csv" and config.data.path is not None and codecs.lookup(config.data.encoding).name != "utf-8"


def require_utf8_for_kubeflow(config: RetrainConfig) -> None:
    """ConfigError when a compiled pipeline would read non-UTF-8 CSV files (only `retrain run` stages a copy)."""
    if needs_staging(config):
        raise ConfigError(
            f"data.encoding: {config.data.encoding} is applied by `retrain run` only (it ingests a staged UTF-8 copy); "
            "for Kubeflow convert the CSV files to UTF-8"
        )


def staging_dir(config: RetrainConfig, output_dir: Path) -> Path:
    """Where the UTF-8 copy of `config`'s data goes: one directory per data path and encoding."""
    key = hashlib.sha256(f"{config.data.path}\n{codecs.lookup(config.data.encoding).name}".encode()).hexdigest()[:16]
    return output_dir / STAGED_DATA_DIR / key


def _transcode(source: Path, target: Path, incoming: Path, encoding: str) -> None:
    partial = incoming / target.name
    with partial.open("w", encoding="utf-8", newline="") as out:
        for line in decoded_lines(source, encoding):
            out.write(line)
    stat = source.stat()
    os.utime(partial, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)


def stage_as_utf8(config: RetrainConfig, output_dir: Path) -> RetrainConfig:
    """`config` reading a UTF-8 copy of its CSV files (unchanged when they are UTF-8 already); InputError naming a file that does not decode."""
    if not needs_staging(config):
        return config
    check_data(config)  # the originals: present, decodable, with the configured columns
    assert config.data.path is not None  # needs_staging checked it
    source_root, staged = config.data.path, staging_dir(config, output_dir)
    sources = {path for pattern in config.data.input_patterns() for path in matching_files(source_root, pattern)}
    incoming = staged.with_name(staged.name + ".incoming")
    shutil.rmtree(incoming, ignore_errors=True)  # leftovers of an interrupted run
    incoming.mkdir(parents=True)
    try:
        for source in sorted(sources):
            target = staged / source.relative_to(source_root)
            if not target.is_file() or target.stat().st_mtime_ns != source.stat().st_mtime_ns:
                _transcode(source, target, incoming, config.data.encoding)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    wanted = {staged / source.relative_to(source_root) for source in sources}
    for stale in [path for path in staged.rglob("*") if path.is_file() and path not in wanted]:
        stale.unlink()
    data = config.data.model_copy(update={"path": staged, "encoding": "utf-8"})
    return config.model_copy(update={"data": data})
