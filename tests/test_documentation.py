"""The README and docs/ against the code: the README stays a short front door that links every
document, links resolve, and the reason codes, configuration keys and commands the code defines
are all documented.

The agent's modules are imported inside the tests, so a broken import fails only the test that
needs it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_LINES = 250

# [text](target): the target up to the closing parenthesis (no spaces, no titles in these docs).
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
CODE_SPAN = re.compile(r"`([^`\s]+)`")
# Repository paths the docs name; test files may also be named relative to tests/.
REPO_FOLDERS = ("agent/", "onchain/", "tests/", "benchmarks/", "configs/", "grafana/", "fuzz/")
TEST_FILE = re.compile(r"^(?:[a-z_]+/)*test_[a-z0-9_]+\.py$")
# A command-table row: | `wallet add PUBKEY [--keypair PATH] ...` | what it does |
COMMAND_ROW = re.compile(r"^\| `((?:[^`\\]|\\.)+)` \|", re.MULTILINE)


def _docs() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def _links(path: Path) -> list[str]:
    return LINK.findall(_without_code_blocks(path.read_text()))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for _level, title in HEADING.findall(_without_code_blocks(path.read_text())):
        slug = _slug(title)
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def _broken_links(path: Path) -> list[str]:
    broken = []
    for target in _links(path):
        if SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{path.relative_to(REPO)}: {target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    return broken


def test_readme_is_at_most_250_lines() -> None:
    """README.md stays a front door: at most 250 lines."""
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_every_doc_is_linked_from_the_readme() -> None:
    """Every docs/*.md file is linked from README.md."""
    docs = _docs()
    assert docs, "docs/ holds no markdown file"
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in _links(README)
        if not SCHEME.match(target)
    }
    missing = [str(doc.relative_to(REPO)) for doc in docs if doc.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_relative_links_point_at_existing_files_and_headings() -> None:
    """Every relative link in the README, SECURITY.md and the docs names an existing file and heading."""
    pages = [README, REPO / "SECURITY.md", REPO / "benchmarks" / "README.md", *_docs()]
    broken = [problem for page in pages for problem in _broken_links(page)]
    assert not broken, "\n".join(broken)


def _named_paths(text: str) -> Iterator[tuple[str, str]]:
    """(path, function) for each backticked repository path, e.g. `agent/ledger/` or
    `security/test_x.py::test_y` (test files may be named relative to tests/)."""
    for token in CODE_SPAN.findall(text):
        path, _, function = token.partition("::")
        if "<" in path:  # a placeholder such as tests/<package>/
            continue
        if TEST_FILE.match(path) and not path.startswith("tests/"):
            yield f"tests/{path}", function
        elif path.startswith(REPO_FOLDERS):
            yield path, function


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_repository_path_the_docs_name_exists() -> None:
    """Every repository path and test function the README and the docs name in backticks exists."""
    pages = [README, REPO / "SECURITY.md", REPO / "benchmarks" / "README.md", *_docs()]
    missing = []
    for page in pages:
        for path, function in _named_paths(page.read_text()):
            found = list(REPO.glob(path)) if "*" in path else [REPO / path]
            if not any(p.exists() for p in found):
                missing.append(f"{page.relative_to(REPO)}: {path}")
            elif function and function not in _functions(found[0]):
                missing.append(f"{page.relative_to(REPO)}: {path}::{function}")
    assert not missing, "\n".join(missing)


def test_every_reason_code_is_in_the_protocol_doc() -> None:
    """Every value of the Reason enum appears, in backticks, in docs/protocol.md."""
    from agent.domain.outcomes import Reason

    text = (DOCS / "protocol.md").read_text()
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in text]
    assert not missing, f"docs/protocol.md lacks reason codes {missing}"


def _dataclass_items(tp: typing.Any) -> type | None:
    """The dataclass of a ``tuple[SomeDataclass, ...]`` annotation (an array of tables)."""
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(item) and isinstance(item, type):
            return item
    return None


def _config_keys(cls: type, prefix: str = "") -> Iterator[str]:
    """Dotted key names of a configuration dataclass: ``section.key``, ``wallets[].pubkey``."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.init or field.metadata.get("internal"):
            continue
        name, tp = prefix + field.name, hints[field.name]
        item = _dataclass_items(tp)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            yield from _config_keys(tp, f"{name}.")
        elif item is not None:
            yield from _config_keys(item, f"{name}[].")
        else:
            yield name


def test_every_config_key_is_in_the_configuration_doc() -> None:
    """Every key of the main, tokens and pools configuration files is in docs/configuration.md."""
    from agent.config import AgentConfig
    from agent.config.catalogs import PoolsConfig, TokensConfig

    keys = [
        *_config_keys(AgentConfig),
        *_config_keys(TokensConfig),
        *_config_keys(PoolsConfig),
    ]
    assert {"execution.mode", "intake.redis.url", "wallets[].pubkey", "otc[].id"} <= set(keys)
    text = (DOCS / "configuration.md").read_text()
    missing = [key for key in keys if f"`{key}`" not in text]
    assert not missing, f"docs/configuration.md lacks keys {missing}"


def test_every_config_key_names_its_environment_override() -> None:
    """Every main-file key's OTC_AGENT__SECTION__KEY override is named in docs/configuration.md."""
    from agent.config import AgentConfig
    from agent.config.env import ENV_PREFIX

    text = (DOCS / "configuration.md").read_text()
    variables = {
        ENV_PREFIX + key.partition("[]")[0].upper().replace(".", "__")
        for key in _config_keys(AgentConfig)
    }
    assert "OTC_AGENT__INTAKE__REDIS__URL" in variables
    missing = sorted(name for name in variables if f"`{name}`" not in text)
    assert not missing, f"docs/configuration.md lacks overrides {missing}"


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every leaf command of the parser, as ("wallet add", its parser)."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups and path:
        yield " ".join(path), parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from _subcommands(sub, (*path, name))


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def _command_table() -> list[str]:
    """The first cell of each row of README.md's command table, unescaped."""
    text = README.read_text()
    start = text.index("| command | what it does |")
    table = text[start : text.find("\n\n", start)]
    return [cell.replace("\\|", "|") for cell in COMMAND_ROW.findall(table)]


def _row_for(command: str, rows: list[str]) -> str | None:
    return next((row for row in rows if row == command or row.startswith(f"{command} ")), None)


def _mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_every_subcommand_is_in_the_readme_command_table() -> None:
    """Every otc-agent subcommand and sub-subcommand has a row in README.md's command table."""
    from agent.cli.main import _parser

    commands = [name for name, _ in _subcommands(_parser())]
    assert {"run", "wallet add", "db upgrade"} <= set(commands)
    rows = _command_table()
    missing = [command for command in commands if _row_for(command, rows) is None]
    assert not missing, f"README.md's command table lacks {missing}"


def test_every_subcommand_option_is_in_its_readme_row() -> None:
    """Every subcommand option is in its README.md table row, and every global option in README.md."""
    from agent.cli.main import _parser

    parser = _parser()
    rows = _command_table()
    missing = []
    for command, sub in _subcommands(parser):
        row = _row_for(command, rows) or ""
        missing += [f"{command} {o}" for o in _long_options(sub) if not _mentions(row, o)]
    readme = README.read_text()
    missing += [o for o in _long_options(parser) if not _mentions(readme, o)]
    assert not missing, f"README.md does not document {missing}"
