#!/usr/bin/env python3
"""Lists the public declarations of the library's modules that carry no `///` doc comment.

A declaration is public API when it is written `public` or `open` (or sits, with no access
modifier, in a `public extension` or a `public protocol`, or is a `case` of a public enum) and
every type around it is public too (a `public var` in an internal struct is not API). It is
documented when the line right above it, attributes (`@inlinable`, `@discardableResult`, ...)
skipped, is a `///` line or the end of a `/** */` block. Cases declared on one line
(`case a, b`) share one comment. Codable's `init(from:)` / `encode(to:)` and a
`description` need their one line like anything else.

The reader is a small Swift lexer: comments and string literals (multi-line and raw ones
included) are blanked before braces are counted, so a `{` in a string or a `public` in a
comment does not mislead it. One declaration per line is seen: the first one on it.

    scripts/check-doc-comments.py [MODULE ...]    (default: the library products)

Prints `file:line: declaration` per miss and a count per module; exits 1 if anything misses.
"""
import os
import re
import sys

PRODUCTS = ["XDPPacket", "XDPDatapath", "XDPModel", "XDPControl", "XDPPcap", "AFXDP", "XDPSwitch"]

MODIFIERS = (r"(?:public|open|internal|fileprivate|private|package|static|class|final|override|"
             r"mutating|nonmutating|convenience|required|indirect|lazy|weak|unowned|dynamic|"
             r"optional|prefix|postfix|infix|nonisolated|distributed|consuming|borrowing|"
             r"(?:public|internal|fileprivate|private|package|open)\s*\(\s*set\s*\)|"
             r"nonisolated\s*\(\s*unsafe\s*\)|unowned\s*\(\s*(?:safe|unsafe)\s*\))")
ATTRIBUTE = r"@[A-Za-z_][A-Za-z0-9_]*(?:\s*\([^()]*(?:\([^()]*\)[^()]*)*\))?"
KEYWORDS = ("func|init|deinit|var|let|subscript|class|struct|enum|protocol|typealias|"
            "associatedtype|case|extension|actor|macro|operator|import")
DECL = re.compile(r"^\s*((?:" + ATTRIBUTE + r"\s*)*)((?:" + MODIFIERS + r"\s+)*)(" + KEYWORDS + r")\b")
TYPE_KEYWORDS = {"class", "struct", "enum", "protocol", "extension", "actor"}
MEMBER_KEYWORDS = {"func", "init", "var", "let", "subscript", "class", "struct", "enum", "protocol",
                   "typealias", "associatedtype", "actor", "case"}
STRING_START = re.compile(r'(#*)("""|")')
ACCESS = re.compile(r"\b(public|open|internal|fileprivate|private|package)\b(?!\s*\(\s*set)")


def sanitize(text):
    """Returns (code lines with comments and string contents blanked, set of line numbers,
    1-based, where a `/** */` doc block ends)."""
    out = []
    doc_block_ends = set()
    i, n, line = 0, len(text), 1
    # Stack of lexer states: ("code", paren_depth) inside interpolations, ("str", hashes, multi).
    stack = [("code", 0)]
    block_depth, block_is_doc = 0, False
    while i < n:
        c = text[i]
        if c == "\n":
            out.append(c)
            line += 1
            i += 1
            continue
        if block_depth:
            if text.startswith("*/", i):
                block_depth -= 1
                if block_depth == 0 and block_is_doc:
                    doc_block_ends.add(line)
                out.append("  ")
                i += 2
            elif text.startswith("/*", i):
                block_depth += 1
                out.append("  ")
                i += 2
            else:
                out.append(" ")
                i += 1
            continue
        state = stack[-1]
        if state[0] == "code":
            if text.startswith("//", i):
                j = text.find("\n", i)
                j = n if j < 0 else j
                out.append(" " * (j - i))
                i = j
                continue
            if text.startswith("/*", i):
                block_depth = 1
                block_is_doc = text.startswith("/**", i) and not text.startswith("/**/", i)
                out.append("  ")
                i += 2
                continue
            m = STRING_START.match(text, i) if c in '"#' else None
            if m:
                hashes = len(m.group(1))
                multi = m.group(2) == '"""'
                stack.append(("str", hashes, multi))
                out.append(m.group(0))
                i = m.end()
                continue
            if c == "(":
                stack[-1] = ("code", state[1] + 1)
            elif c == ")":
                if state[1] == 0 and len(stack) > 1:
                    stack.pop()  # end of an interpolation
                    out.append(c)
                    i += 1
                    continue
                stack[-1] = ("code", state[1] - 1)
            out.append(c)
            i += 1
            continue
        # Inside a string literal.
        _, hashes, multi = state
        close = ('"""' if multi else '"') + "#" * hashes
        escape = "\\" + "#" * hashes
        if text.startswith(escape + "(", i):
            stack.append(("code", 0))
            out.append(" " * (len(escape) + 1))
            i += len(escape) + 1
            continue
        if text.startswith(escape, i):
            out.append(" " * (len(escape) + 1))
            i += len(escape) + 1
            continue
        if text.startswith(close, i):
            stack.pop()
            out.append(close)
            i += len(close)
            continue
        out.append(" ")
        i += 1
    return "".join(out).split("\n"), doc_block_ends


class Context:
    def __init__(self, kind, public, keyword=None, public_members=False):
        self.kind = kind            # "type" (members are declarations) or "body"
        self.public = public        # is this container visible outside the module
        self.keyword = keyword      # struct/enum/protocol/extension/...
        self.public_members = public_members  # members without a modifier are public


def access_of(modifiers):
    m = ACCESS.search(modifiers)
    return m.group(1) if m else None


def check_file(path):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    code, doc_block_ends = sanitize(raw)
    raw_lines = raw.split("\n")
    misses = []
    stack = [Context("type", True)]  # file scope
    header = None  # (keyword, is_public, public_members) of the latest declaration at type scope
    attr_open = 0  # unbalanced parentheses of a multi-line attribute

    def documented(index):
        j = index - 1
        while j >= 0:
            stripped = raw_lines[j].strip()
            if (stripped.startswith("@") and not DECL.match(code[j])) or attr_open_lines.get(j):
                j -= 1
                continue
            if stripped.startswith("///"):
                return True
            return (j + 1) in doc_block_ends and stripped.endswith("*/")
        return False

    # Lines that belong to a multi-line attribute (continuations), to skip when looking upward.
    attr_open_lines = {}
    depth = 0
    for idx, text in enumerate(code):
        stripped = text.strip()
        if depth > 0:
            attr_open_lines[idx] = True
            depth += text.count("(") - text.count(")")
            continue
        if stripped.startswith("@") and not DECL.match(text):
            depth = text.count("(") - text.count(")")

    for idx, text in enumerate(code):
        ctx = stack[-1]
        m = DECL.match(text)
        if m and ctx.kind == "type":
            modifiers, keyword = m.group(2), m.group(3)
            access = access_of(modifiers)
            in_enum_case = keyword == "case" and ctx.keyword == "enum"
            if keyword == "case" and not in_enum_case:
                m = None
            if m:
                if access in ("public", "open"):
                    public = True
                elif access is None:
                    public = ctx.public_members or (in_enum_case and ctx.public)
                else:
                    public = False
                visible = public and ctx.public
                if keyword in TYPE_KEYWORDS and keyword != "extension":
                    header = (keyword, visible, keyword == "protocol" and visible)
                elif keyword == "extension":
                    # An extension's members are API when written public (or it is `public extension`).
                    header = (keyword, True, access in ("public", "open"))
                else:
                    header = None
                if visible and keyword in MEMBER_KEYWORDS and keyword != "extension":
                    if not documented(idx):
                        misses.append((idx + 1, raw_lines[idx].strip()))
        elif m is None and ctx.kind == "type" and text.strip() and not text.strip().startswith(("{", "}", "#", "@")):
            pass  # continuation of a header (e.g. a `where` clause): keep the header
        for ch in text:
            if ch == "{":
                if stack[-1].kind == "type" and header is not None:
                    keyword, visible, public_members = header
                    stack.append(Context("type", visible, keyword, public_members))
                else:
                    stack.append(Context("body", False))
                header = None
            elif ch == "}":
                if len(stack) > 1:
                    stack.pop()
                header = None
    return misses


def module_files(root, module):
    base = os.path.join(root, "Sources", module)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".swift"):
                yield os.path.join(dirpath, name)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    modules = sys.argv[1:] or PRODUCTS
    counts = {}
    for module in modules:
        if not os.path.isdir(os.path.join(root, "Sources", module)):
            print(f"check-doc-comments: no module {module}", file=sys.stderr)
            return 2
        counts[module] = 0
        for path in module_files(root, module):
            for line, decl in check_file(path):
                print(f"{os.path.relpath(path, root)}:{line}: {decl}")
                counts[module] += 1
    total = sum(counts.values())
    print("undocumented public declarations: " + ", ".join(f"{m} {c}" for m, c in counts.items())
          + f" (total {total})")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
