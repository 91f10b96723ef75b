#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Make a manual page from a section of our Markdown docs.

The docs (docs/cli.md, docs/api.md) are the one source; the pages are
built from them, so the two cannot drift apart.  Only the Markdown our
docs use is understood: headings, paragraphs, fenced code, pipe tables,
"* " and "1. " lists, definition lists ("`term`" then ": text"), and
inline `code`, **bold**, *italic* and [links](...).

    md2man.py [--synopsis] [--name NAME --summary TEXT] \\
        --page NAME --section N --date DATE --version V \\
        DOC.md "HEADING" OUT

HEADING is the exact heading line where the page starts; it ends at the
next heading of the same or a higher level.  Headings one level below
become sections (.SH), two levels below subsections (.SS).  --name and
--summary write the NAME section for a part of a doc that has none;
--synopsis then takes the part's first code block as the SYNOPSIS.
"""
import argparse
import re
import sys


def esc(text):
    text = text.replace("\\", "\\e")
    return text


def inline(text):
    """Markdown inline markup to roff fonts, escaping the rest."""
    out = []
    pos = 0
    pat = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])"
                     r"|\[([^\]]+)\]\(([^)]+)\)")
    for m in pat.finditer(text):
        out.append(esc(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append("\\fB" + esc(m.group(1)).replace("-", "\\-") + "\\fR")
        elif m.group(2) is not None:
            out.append("\\fB" + inline(m.group(2)) + "\\fR")
        elif m.group(3) is not None:
            out.append("\\fI" + inline(m.group(3)) + "\\fR")
        else:
            out.append(inline(m.group(4)))
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def line_safe(text):
    """A roff text line must not start with a control character."""
    return "\\&" + text if text[:1] in (".", "'") else text


def heading_level(line):
    m = re.match(r"^(#+) ", line)
    return len(m.group(1)) if m else 0


def extract(lines, heading):
    try:
        start = lines.index(heading)
    except ValueError:
        sys.exit(f"md2man: heading {heading!r} not found")
    level = heading_level(heading)
    body = []
    fence = False
    for line in lines[start + 1:]:
        if line.startswith("```"):
            fence = not fence
        if not fence and 0 < heading_level(line) <= level:
            break
        body.append(line)
    return level, body


class Writer:
    def __init__(self, base):
        self.base = base
        self.out = []
        self.section = ""

    def emit(self, *lines):
        self.out.extend(lines)

    def heading(self, line):
        level = heading_level(line) - self.base
        title = re.sub(r"^\d+(\.\d+)*\.? ", "", line.lstrip("#").strip())
        title = inline(title)
        if level <= 1:
            self.section = title.upper()
            self.emit(".SH " + '"' + title.upper() + '"')
        elif level == 2:
            self.emit(".SS " + '"' + title + '"')
        else:
            self.emit(".PP", "\\fB" + title + "\\fR")

    def code(self, block):
        self.emit(".PP", ".RS 4", ".nf")
        for line in block:
            self.emit(line_safe(esc(line)) if line else "")
        self.emit(".fi", ".RE")

    def table(self, rows):
        cells = [[c.strip() for c in r.strip().strip("|").split("|")]
                 for r in rows]
        head, data = cells[0], cells[2:]
        n = len(head)
        if n == 2:
            # Two columns are a term and its meaning (options, fields):
            # a tagged list reads better than a narrow table.
            for term, text in data:
                self.term(term, text)
            return
        # Narrow columns keep their width; wide ones share the rest of
        # the line, ragged right.
        wide = [i == n - 1 or max(len(r[i]) if i < len(r) else 0
                                  for r in data) > 24 for i in range(n)]
        self.emit(".PP", ".TS", "tab(\t) allbox;",
                  " ".join(["lb"] * n),
                  " ".join("lx" if w else "l" for w in wide) + ".")
        self.emit("\t".join(inline(c) for c in head))
        for row in data:
            row = (row + [""] * n)[:n]
            self.emit("\t".join(
                "T{\n.ad l\n" + line_safe(inline(c)) + "\nT}" if w
                else inline(c) for c, w in zip(row, wide)))
        self.emit(".TE")

    def para(self, text):
        if self.section == "NAME":
            # "name \- summary", plain, as whatis(1) and mandb read it.
            name, _, summary = text.replace("`", "").partition(" - ")
            self.emit(f"{esc(name)} \\- {inline(summary)}")
            return
        self.emit(".PP", line_safe(inline(text)))

    def item(self, mark, text, indent):
        self.emit(f".IP {mark} {indent}", line_safe(inline(text)))

    def term(self, term, text):
        self.emit(".TP", line_safe(inline(term)), line_safe(inline(text)))


def convert(body, w):
    i = 0
    n = len(body)
    while i < n:
        line = body[i]
        if not line.strip() or line.strip() == "---":
            i += 1
        elif heading_level(line):
            w.heading(line)
            i += 1
        elif line.startswith("```"):
            j = i + 1
            while j < n and not body[j].startswith("```"):
                j += 1
            w.code(body[i + 1:j])
            i = j + 1
        elif line.startswith("|"):
            j = i
            while j < n and body[j].startswith("|"):
                j += 1
            w.table(body[i:j])
            i = j
        elif re.match(r"^([*-]|\d+\.) ", line):
            m = re.match(r"^([*-]|\d+\.) (.*)", line)
            text = [m.group(2)]
            i += 1
            while i < n and body[i].startswith("  ") and body[i].strip():
                text.append(body[i].strip())
                i += 1
            mark = "\\(bu" if m.group(1) in "*-" else m.group(1)
            w.item(mark, " ".join(text), 2 if mark == "\\(bu" else 4)
        elif i + 1 < n and body[i + 1].startswith(": "):
            text = [body[i + 1][2:]]
            i += 2
            while i < n and body[i].startswith("  ") and body[i].strip():
                text.append(body[i].strip())
                i += 1
            w.term(line, " ".join(text))
        else:
            text = []
            while (i < n and body[i].strip() and not heading_level(body[i])
                   and not body[i].startswith(("```", "|"))
                   and not re.match(r"^([*-]|\d+\.) ", body[i])
                   and not (i + 1 < n and body[i + 1].startswith(": "))):
                text.append(body[i].strip())
                i += 1
            w.para(" ".join(text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", required=True)
    ap.add_argument("--section", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--name")
    ap.add_argument("--summary")
    ap.add_argument("--synopsis", action="store_true")
    ap.add_argument("--synopsis-text",
                    help="a SYNOPSIS given here, lines separated by ';'")
    ap.add_argument("--see-also", default="")
    ap.add_argument("doc")
    ap.add_argument("heading")
    ap.add_argument("out")
    a = ap.parse_args()

    lines = open(a.doc, encoding="utf-8").read().splitlines()
    level, body = extract(lines, a.heading)
    w = Writer(level)
    manual = "Library Functions Manual" if a.section == "3" else (
        "System Manager's Manual" if a.section == "8" else
        "General Commands Manual")
    w.emit("'\\\" t",
           f'.TH "{a.page.upper()}" "{a.section}" "{a.date}" '
           f'"V4VSockets {a.version}" "{manual}"')
    if a.name:
        w.emit(".SH NAME", f"{esc(a.name)} \\- {inline(a.summary or '')}")
    if a.synopsis:
        start = body.index(next(x for x in body if x.startswith("```")))
        end = body.index("```", start + 1)
        w.emit(".SH SYNOPSIS")
        w.code(body[start + 1:end])
        w.emit(".SH DESCRIPTION")
        body = body[:start] + body[end + 1:]
    elif a.synopsis_text:
        w.emit(".SH SYNOPSIS")
        w.code([x.strip() for x in a.synopsis_text.split(";")])
        w.emit(".SH DESCRIPTION")
    elif a.name:
        w.emit(".SH DESCRIPTION")
    convert(body, w)
    if a.see_also:
        refs = [r.strip() for r in a.see_also.split(",")]
        w.emit(".SH \"SEE ALSO\"",
               ",\n".join(f"\\fB{r.split('(')[0]}\\fR({r.split('(')[1]}"
                          for r in refs))
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(w.out) + "\n")


if __name__ == "__main__":
    main()
