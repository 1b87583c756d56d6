"""Write a CPU-lean variant of the connector's manifest and components, for the benchmarks' experiments.

    .venv/bin/python -m bench.fast_variant OUT_DIR
    .venv/bin/python -m bench.bench_cpu --manifest OUT_DIR/manifest.yaml --components OUT_DIR/components.py

The benchmarks show the sync CPU-bound at 60 requests/s. Profiles (py-spy, ``--gil``) put most of the
connector's CPU in three places that the manifest chooses, not in the work itself:

1. ``DpathExtractor(field_path: ["data"])``: ``dpath.get`` walks *every node* of the page to find the one
   path, so deep records (emails: envelope, bodies, attachments) cost many times their parse;
2. each page parsed more than once (the extractor's decoder, the error handler's JSON check and the
   paginator's ``has_more`` each decode the whole body);
3. ``RemoveFields([["__object_type"]])`` on contacts: ``dpath.delete`` walks every node of every record.

The variant replaces (1) with a custom extractor that takes ``body["data"]``, (2) with one parse per
response cached on the response object, and (3) with a ``dict.pop``. It is written from the current
files by text substitution (and fails if a pattern is gone), so it follows the real connector as it
changes; nothing in ``source_close_com/`` is modified.

The connector took the same three changes in 4746b8d; since then this tool has nothing to replace and says
so (run it on an earlier checkout to reproduce the comparison in RESULTS.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EXTRA_COMPONENTS = '''

# ---- CPU-lean variant (bench/fast_variant.py): one parse per page, no dpath walks ----
from dataclasses import InitVar, dataclass
from typing import Any, Mapping

import orjson

from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor as _RecordExtractor
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.types import Config


def _page_body(response):
    """The page's JSON, parsed once per response and kept on it."""
    body = getattr(response, "_close_bench_body", None)
    if body is None:
        body = orjson.loads(response.content)
        response._close_bench_body = body
    return body


@dataclass
class BenchDataExtractor(_RecordExtractor):
    """The records under ``data`` (what DpathExtractor(["data"]) yields, without walking the whole page)."""

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def extract_records(self, response):
        try:
            body = _page_body(response)
        except orjson.JSONDecodeError:
            return
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, list):
            yield from data


@dataclass
class BenchDropTopLevelKeys(RecordTransformation):
    """RemoveFields for top-level keys, as a dict.pop."""

    parameters: InitVar[Mapping[str, Any]]
    keys: Any = ("__object_type",)

    def transform(self, record, config=None, stream_state=None, stream_slice=None) -> None:
        for key in self.keys:
            record.pop(key, None)
'''

EXTRACTOR = re.compile(r"(\n(\s*)extractor:\n\s*type: DpathExtractor\n\s*field_path: \[\"data\"\]\n)")
REMOVE_FIELDS = re.compile(r"(\n(\s*)- type: RemoveFields\n\s*field_pointers: \[\[\"__object_type\"\]\]\n)")
PARSES = re.compile(r"orjson\.loads\((response(?:_or_exception)?)\.content\)|(response)\.json\(\)")


def build(out: Path) -> list[str]:
    manifest = (ROOT / "source_close_com" / "manifest.yaml").read_text()
    components = (ROOT / "source_close_com" / "components.py").read_text()
    notes = []

    manifest, n = EXTRACTOR.subn(
        lambda m: f"\n{m.group(2)}extractor:\n{m.group(2)}  type: CustomRecordExtractor\n"
                  f"{m.group(2)}  class_name: source_declarative_manifest.components.BenchDataExtractor\n",
        manifest)
    if not n:
        raise SystemExit("no DpathExtractor(field_path: [\"data\"]) left in the manifest: the changes are already in "
                         "the connector (since 4746b8d); run this on an older checkout to compare")
    notes.append(f"manifest: {n} DpathExtractor(['data']) -> BenchDataExtractor")

    manifest, n = REMOVE_FIELDS.subn(
        lambda m: f"\n{m.group(2)}- type: CustomTransformation\n"
                  f"{m.group(2)}  class_name: source_declarative_manifest.components.BenchDropTopLevelKeys\n",
        manifest)
    notes.append(f"manifest: {n} RemoveFields([['__object_type']]) -> BenchDropTopLevelKeys")

    components, n = PARSES.subn(lambda m: f"_page_body({m.group(1) or m.group(2)})", components)
    notes.append(f"components: {n} whole-page parses -> _page_body (one parse per response)")
    components += EXTRA_COMPONENTS

    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.yaml").write_text(manifest)
    (out / "components.py").write_text(components)
    return notes


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    for note in build(Path(sys.argv[1])):
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
