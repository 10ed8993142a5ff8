"""Markdown inputs for the renderer's tests, written for this project.

`constructs()`: one or a few lines per construct, following the rules of CommonMark and of
GitHub's extensions (emphasis and its flanking rules, code spans, links and references, raw
HTML, block quotes, lists, fences, tables, ...). `pathological()`: inputs built after the
kinds cmark's pathological tests describe (deep nesting, long runs of unmatched delimiters,
many links), sized so that each renders in well under a second.
"""

from __future__ import annotations

import itertools

DELIMITERS = ("*", "_", "**", "__", "***", "___", "~~", "~")


def _emphasis() -> list[str]:
    cases: list[str] = []
    for d in DELIMITERS:
        cases += [
            f"{d}word{d} after",
            f"in{d}tra{d}word",
            f"{d} spaced{d} opener",
            f"{d}open only here",
            f"close only here{d}",
            f"({d}punctuated{d}).",
            f"{d}outer {d}inner{d} outer{d}",
            f"\\{d}escaped{d}",
            f"{d}multi\nline{d}",
        ]
    for a, b in itertools.permutations(("*", "_", "**", "__"), 2):
        cases += [f"{a}one {b}two{b} three{a}", f"{a}cross {b}over{a} here{b}"]
    cases += [
        "*foo**bar**baz*",
        "**foo*bar*baz**",
        "foo***bar***baz",
        "*(*foo*)*",
        "_foo_bar_baz_",
        "**foo bar **",
        "a * b * c",
        "2*3*4 and 2 * 3 * 4",
        "snake_case_name and __init__ and _private",
    ]
    return cases


def _inline() -> list[str]:
    return [
        "`code` and ``co`de`` and ` spaced ` and `unclosed",
        "```inline triple``` and ````four```` backticks",
        '[inline](https://example.org/path?q=1 "title") link',
        "[angle](<https://example.org/with space>) link",
        "[empty]() and [relative](docs/page.md) and [anchor](#section)",
        "[ref] and [full][ref] and [collapsed][] and [Ref]\n\n[ref]: https://example.org/r 'T'",
        "[nested [brackets]](https://example.org/n) and [not closed",
        "![image alt](https://example.org/i.png) and ![ref image][ref]",
        "<https://example.org/autolink> and <mail@example.org> and https://example.org/bare",
        "www.example.org and user@example.org plain",
        "<span class='x'>inline html</span> and <b>bold tag</b> and <br/>",
        "<!-- comment --> and <?instruction?> and <!DECLARATION x>",
        "hard  \nbreak and hard\\\nbreak and soft\nbreak",
        "\\!\\\"\\#\\$\\%\\&\\'\\(\\)\\*\\+\\,\\-\\.\\/\\:\\;\\<\\=\\>\\?\\@\\[\\\\\\]\\^\\_\\`\\{\\|\\}"
        "\\~ escapes",
        "\\a not an escape and \\\\ backslash",
        "price $5 and $x^2$ math and $$block$$",
        "a || b || c and ||spoiler||",
        "[link *with* **emphasis** and `code`](https://example.org/e)",
        "*emphasis [with link](https://example.org/l) inside*",
        "[link](https://example.org/a_b_c) with_underscores_after",
        "`code with *stars* and _underscores_`",
        "[a](javascript:alert(1)) and [b](ftp://example.org/f) and [c](mailto:x@example.org)",
        "~~strike~~ and ~single~ and ~~~triple~~~",
    ]


def _blocks() -> list[str]:
    return [
        "# H1\n## H2\n### H3\n#### H4\n##### H5\n###### H6\n####### not a heading",
        "# closed heading ##\n#not heading\n\\# escaped",
        "Setext one\n===\n\nSetext two\n---",
        "***\n---\n___\n* * *\n- - -",
        "    indented code\n    second line\n\nparagraph",
        "```python\nprint('x')\n```\n\n~~~\ntilde fence\n~~~\n\n```\nunclosed fence",
        '```py title="x"\ninfo string with attributes\n```',
        "````\n```\nfence inside\n```\n````",
        "<div>\nhtml block\n</div>\n\nafter",
        "<script>\nlet x = 1 < 2;\n</script>\n\nafter script",
        "<!--\nmulti-line comment\n-->\nafter comment",
        "<?php echo 1; ?>\n\n<!DOCTYPE html>\n\n<![CDATA[ raw ]]>",
        "<custom-element>\ncustom\n</custom-element>",
        "> quote\ncontinued lazily\n> > nested\n> back",
        "> - list in quote\n>   continued\n> 1. ordered",
        "> ```\n> code in quote\n> ```",
        "- a\n- b\n  - nested\n    - deeper\n- c",
        "+ plus\n+ list\n\n* star\n* list",
        "1. one\n2. two\n3. three\n\n7) seven\n8) eight",
        "2. starts at two\n10. ten\n100. hundred",
        "- tight\n- list\n\n- loose\n\n- list",
        "- \n- empty item above\n-\n  text after empty marker",
        "1. item\n\n   continued paragraph\n\n       indented code in item",
        "- [ ] task open\n- [x] task done\n- [X] task done caps",
        "| a | b |\n|---|:---:|\n| 1 | 2 |\n| *e* | `c` |",
        "| only header |\n|---|",
        "a | b\n--|--\nc | d",
        "\tTab indented\n-\ttab list\n>\ttab quote",
        "Line one\n\n\n\nLine after blank lines",
        '[foo]: https://example.org/d\n[bar]:\n  https://example.org/e\n  "title"\n\n[foo] [bar]',
        "Footnote[^1].\n\n[^1]: The note.",
        "Term\n: definition?",
    ]


def _character_references() -> list[str]:
    """References that stand for no letter or digit (those are tested one by one)."""
    return [
        "&amp; &lt; &gt; &quot; &copy; &nbsp; &#35; &#x23; &#X22;",
        "AT&T & a & b &bogus; &copy no semicolon &#; &#x; &#12345678;",
        "`&amp; in code` and **&amp; in bold** and [&lt;l&gt;](https://example.org/?a=1&amp;b=2)",
    ]


def constructs() -> list[str]:
    return _emphasis() + _inline() + _blocks() + _character_references()


def nested_emphasis(depth: int) -> str:
    """`*w0 **w1 *w2 core* c2** c1* c0`: italic and bold by turns, each inside the last."""
    marks = list(enumerate("*" if level % 2 == 0 else "**" for level in range(depth)))
    opening = "".join(f"{mark}w{level} " for level, mark in marks)
    closing = "".join(f"{mark} c{level}" for level, mark in reversed(marks))
    return f"{opening}core{closing}"


def pathological() -> dict[str, str]:
    return {
        "nested emphasis": nested_emphasis(1000),
        "nested strong": "**a " * 600 + "core" + "**" * 600,
        "nested underscores": "_a " * 600 + "core" + "_" * 600,
        "nested strikethrough": "~~a " * 400 + "core" + "~~" * 400,
        "emphasis openers without closers": "*a _b " * 3000,
        "emphasis closers without openers": "a* b_ " * 3000,
        "mismatched openers and closers": "*a_ " * 3000,
        "delimiter runs of multiples of three": "a**b c* " * 2000,
        "nested block quotes": "> " * 3000 + "deep",
        "block quote staircase": "\n".join(
            "> " * level + f"line {level}" for level in range(1, 300)
        ),
        "quotes inside lists inside quotes": "\n".join(
            "> " * level + "- " * (level % 3) + f"item {level}" for level in range(1, 200)
        ),
        "nested lists": "\n".join("  " * level + f"- item {level}" for level in range(300)),
        "nested brackets": "[" * 3000 + "a" + "]" * 3000,
        "link openers without closers": "[a " * 3000,
        "link closers without openers": "a] " * 3000,
        "many links": " ".join(f"[l{i}](https://example.org/{i})" for i in range(1500)),
        "links with long URLs": " ".join(
            f"[l{i}](https://example.org/{'p' * 300}/{i})" for i in range(60)
        ),
        "emphasis in links in emphasis": "*x [**y [*z*](https://example.org/i)**]"
        "(https://example.org/o)* " * 300,
        # Each definition is sent as text, its `[` escaped, and the converter's search for
        # LaTeX `\[` blocks takes time quadratic in their number (2,000 take seconds).
        "many reference definitions": "".join(
            f"[r{i}]: https://example.org/{i}\n" for i in range(500)
        )
        + " ".join(f"[r{i}]" for i in range(0, 500, 7)),
        "backtick runs": "".join("e" + "`" * run for run in range(1, 300)),
        "unclosed link destinations": "[a](<b" * 3000,
        "unclosed link titles": '[a](b "c' * 3000,
        "many character references": "&amp;&copy;&#1234;&#x4D2; " * 3000,
        "formatting every word": " ".join(f"**b{i}** *i{i}* `c{i}`" for i in range(1500)),
    }
