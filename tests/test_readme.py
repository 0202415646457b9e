"""The README's two set-up commands are the ones the Makefile and CI run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands(name: str) -> list[str]:
    text = (ROOT / name).read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    return [line.split("#")[0].strip() for line in blocks[0].splitlines() if line.strip()]


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))


def test_readme_leads_with_demo_and_test():
    assert _readme_commands("README.md") == ["make demo", "make test"]


def test_readme_zh_gives_same_commands():
    assert _readme_commands("README.zh-CN.md") == _readme_commands("README.md")


def test_makefile_defines_readme_targets():
    targets = _makefile_targets()
    for command in _readme_commands("README.md"):
        assert command.split()[1] in targets, command


def test_makefile_demo_runs_hfd_demo():
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "hfd demo" in recipe


def test_makefile_test_installs_first():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: install$", text, flags=re.M)
    assert re.search(r"^demo: install$", text, flags=re.M)


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script
