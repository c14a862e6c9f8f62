"""The README's examples run as they are written (doctest), against the
installed package. Examples that need a peer this machine lacks are marked
+SKIP there and covered by the tool's own tests."""

from __future__ import annotations

import doctest
import os

from conftest import REPO

from support import need_root


def test_readme_examples_run() -> None:
    # The ping example sends from a raw socket.
    need_root()
    # A code fence ends an example's expected output, as a blank line does.
    text = "\n".join("" if line.startswith("```") else line
                     for line in (REPO / "README.md").read_text().splitlines())
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "README.md", str(REPO / "README.md"), 0)
    assert len(test.examples) >= 15
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    cwd = os.getcwd()
    try:
        runner.run(test)
    finally:
        os.chdir(cwd)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, result
