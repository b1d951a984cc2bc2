#!/usr/bin/env python3
"""check-links.py - every link and file reference in the project's Markdown resolves, offline.

For each Markdown file git tracks (README.md, docs/, benches/, charts/, testdata/, ...):
  * [text](target) with a relative target: the file or directory exists (relative to the
    Markdown file; a leading / means the repository root), and a #fragment names a heading of
    that file (GitHub's anchors: lower case, punctuation dropped, spaces to -);
  * [text](#fragment): a heading of the same file;
  * `path` in backticks that starts with a top-level directory of the repository
    (examples/, scripts/, docs/, src/, ...), ends in a file name or a /, and holds no
    placeholder (*, <, {, $, ...): it exists, from the root or from the Markdown file's
    directory. `path:LINE` and `path#anchor` are checked as path.
http(s) links are not fetched (CI has no general network); they are listed with --verbose.
Prints one line per broken reference ("FILE:LINE: ..."), then "check-links: N references,
M broken"; exits 1 if any is broken.

EXAMPLES
  python3 scripts/check-links.py
  python3 scripts/check-links.py --verbose
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
TICK = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
PLACEHOLDER = re.compile(r"[*<>{}$\[\]|=~ ]|\.\.\.|\bNAME\b|\bNS\b|\bFILE\b|\bDIR\b|\bPOD\b|\bN\b")


def anchors(path, cache={}):
    if path not in cache:
        found, fence = set(), False
        counts = {}
        for line in open(path, encoding="utf-8"):
            if line.lstrip().startswith("```"):
                fence = not fence
                continue
            m = None if fence else HEADING.match(line)
            if m:
                a = re.sub(r"[^\w\- ]", "", m.group(2).strip().lower().replace("`", "")).replace(" ", "-")
                n = counts.get(a, 0)
                counts[a] = n + 1
                found.add(a if n == 0 else f"{a}-{n}")
        cache[path] = found
    return cache[path]


def main():
    verbose = "--verbose" in sys.argv[1:]
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "*.md"], capture_output=True, text=True,
                           check=True).stdout.split()
    tops = {p.split("/")[0] + "/" for p in subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True,
                                                          text=True, check=True).stdout.split() if "/" in p}
    refs = broken = 0
    for md in files:
        path = os.path.join(ROOT, md)
        base = os.path.dirname(path)
        fence = False
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            if line.lstrip().startswith("```"):
                fence = not fence
            for target in LINK.findall(line) if not fence else []:
                refs += 1
                if re.match(r"[a-z]+:", target):
                    if verbose:
                        print(f"{md}:{n}: not fetched: {target}")
                    continue
                file, _, frag = target.partition("#")
                full = path if not file else (os.path.join(ROOT, file.lstrip("/")) if file.startswith("/")
                                              else os.path.normpath(os.path.join(base, file)))
                if not os.path.exists(full):
                    print(f"{md}:{n}: link to a missing file: {target}")
                    broken += 1
                elif frag and full.endswith(".md") and frag.lower() not in anchors(full):
                    print(f"{md}:{n}: link to a missing heading: {target}")
                    broken += 1
            for tok in TICK.findall(line):
                tok = re.sub(r"(:\d+(-\d+)?|#[\w-]+)$", "", tok.strip())
                if not any(tok.startswith(t) for t in tops) or PLACEHOLDER.search(tok):
                    continue
                if not (tok.endswith("/") or re.search(r"/[\w.+-]+\.[A-Za-z0-9]+$", tok) or "." in tok.rsplit("/", 1)[-1]):
                    continue
                refs += 1
                # from the repository root, or from the Markdown file's directory (a chart's
                # README names the chart's own files)
                if not (os.path.exists(os.path.join(ROOT, tok)) or os.path.exists(os.path.join(base, tok))):
                    print(f"{md}:{n}: a path that does not exist: `{tok}`")
                    broken += 1
    print(f"check-links: {refs} references, {broken} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
