"""Print the requirements of installed distributions, one per line.

Used by the bootstrap to install the dependencies of `tfx` and `ml-pipelines-sdk`,
which themselves must be installed with `--no-deps --ignore-requires-python`
(they declare Requires-Python <3.11 although they run on 3.11). Installing their
dependencies as a separate step keeps pip's Requires-Python check on for every
other package.
"""

from __future__ import annotations

import argparse
import importlib.metadata

from packaging.requirements import Requirement


def requirements_of(dists: list[str], exclude: set[str]) -> list[str]:
    """Return the marker-applicable requirements of `dists`, minus `exclude` and each other."""
    own = {d.lower() for d in dists}
    lines = []
    for dist in dists:
        for text in importlib.metadata.requires(dist) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            name = req.name.lower()
            if name in own or name in exclude:
                continue
            lines.append(str(Requirement(f"{req.name}{'[' + ','.join(sorted(req.extras)) + ']' if req.extras else ''}{req.specifier}")))
    return sorted(set(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dists", nargs="+")
    parser.add_argument("--exclude", action="append", default=[])
    args = parser.parse_args()
    print("\n".join(requirements_of(args.dists, {e.lower() for e in args.exclude})))


if __name__ == "__main__":
    main()
