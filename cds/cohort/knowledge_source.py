"""Where a knowledge version comes from for ``cds diff``: a content folder, or a git revision.

A knowledge version is named on the command line as

- a content folder: a folder holding ``knowledge/`` and ``pathways/`` (what ``NETCDS_CONTENT``
  names, e.g. another checkout or a copy being edited); the ``knowledge/`` folder itself is
  accepted too when its parent holds ``pathways/``;
- ``git:REV``: a revision of a git repository (``git:HEAD~1``, ``git:v0.9``, a branch or a
  commit). Its ``knowledge/`` and ``pathways/`` are exported with ``git archive`` into a
  temporary folder, removed when the ``with`` block ends.

Nothing here loads the knowledge: that is the engine's (:func:`cds.knowledge.load_knowledge`).

Examples
--------
>>> from cds.resources import content_root
>>> with open_knowledge_source(str(content_root())) as source:
...     (source.knowledge / "knowledge.yaml").is_file(), source.commit
(True, None)
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cds.errors import CdsError

#: The prefix of a git revision.
GIT_PREFIX = "git:"

#: The folders a content folder must hold.
CONTENT_FOLDERS = ("knowledge", "pathways")


class KnowledgeSourceError(CdsError, ValueError):
    """A knowledge version that cannot be used (no such folder, not a revision, no knowledge in it).

    Examples
    --------
    >>> str(KnowledgeSourceError("git:nope: not a revision"))
    'git:nope: not a revision'
    """


@dataclass(frozen=True)
class KnowledgeSource:
    """One knowledge version, ready to load: the folders and where they came from.

    Parameters
    ----------
    spec
        What the user wrote (a folder or ``git:REV``).
    content
        The folder that holds ``knowledge/`` and ``pathways/``.
    commit
        The full commit id for a git revision, else None.

    Examples
    --------
    >>> source = KnowledgeSource("git:HEAD", Path("/tmp/x"), "0123abcd" * 5)
    >>> source.knowledge, source.label
    (PosixPath('/tmp/x/knowledge'), 'git:HEAD (commit 0123abcd0123)')
    """

    spec: str
    content: Path
    commit: str | None = None

    @property
    def knowledge(self) -> Path:
        """The ``knowledge/`` folder."""
        return self.content / "knowledge"

    @property
    def pathways(self) -> Path:
        """The ``pathways/`` folder."""
        return self.content / "pathways"

    @property
    def label(self) -> str:
        """How a report names it: the spec, and the commit of a git revision."""
        return f"{self.spec} (commit {self.commit[:12]})" if self.commit else self.spec


def _folder(spec: str) -> KnowledgeSource:
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise KnowledgeSourceError(f"{spec!r} is neither a folder nor a git revision written git:REV "
                                   "(e.g. git:HEAD~1)")
    path = path.resolve()
    if path.name == "knowledge" and (path / "knowledge.yaml").is_file() and (path.parent / "pathways").is_dir():
        path = path.parent
    missing = [name for name in CONTENT_FOLDERS if not (path / name).is_dir()]
    if missing:
        raise KnowledgeSourceError(f"{spec}: a content folder holds knowledge/ and pathways/; "
                                   f"this one has no {' and no '.join(m + '/' for m in missing)}")
    return KnowledgeSource(spec, path)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise KnowledgeSourceError("git:REV needs the git program, which is not installed") from None


def _export(spec: str, repo: Path, into: Path) -> KnowledgeSource:
    rev = spec[len(GIT_PREFIX):].strip()
    if not rev:
        raise KnowledgeSourceError(f"{spec!r}: name a revision after git: (e.g. git:HEAD~1, git:v0.9)")
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise KnowledgeSourceError(f"{spec}: {repo} is not inside a git repository (run cds diff from the checkout)")
    root = Path(top.stdout.decode().strip())
    found = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if found.returncode != 0:
        raise KnowledgeSourceError(f"{spec}: {rev!r} is not a revision of the repository {root}")
    commit = found.stdout.decode().strip()
    for name in CONTENT_FOLDERS:
        if _git(root, "cat-file", "-e", f"{commit}:{name}").returncode != 0:
            raise KnowledgeSourceError(f"{spec}: revision {commit[:12]} has no {name}/ folder")
    archive = _git(root, "archive", "--format=tar", commit, "--", *CONTENT_FOLDERS)
    if archive.returncode != 0:
        raise KnowledgeSourceError(f"{spec}: git archive failed: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return KnowledgeSource(spec, into, commit)


@contextmanager
def open_knowledge_source(spec: str, repo: Path | None = None) -> Iterator[KnowledgeSource]:
    """The knowledge version ``spec`` names, for the time of a ``with`` block.

    Parameters
    ----------
    spec
        A content folder (holding ``knowledge/`` and ``pathways/``), or ``git:REV``.
    repo
        Where to look for the git repository of a ``git:REV`` (default: the current folder).

    Yields
    ------
    KnowledgeSource
        The folders to load; a git revision's export is deleted when the block ends.

    Raises
    ------
    KnowledgeSourceError
        No such folder, a folder without ``knowledge/`` or ``pathways/``, no git repository, an
        unknown revision, or a revision without those folders.

    Examples
    --------
    >>> try:
    ...     with open_knowledge_source("/no/such/folder") as source:
    ...         pass
    ... except KnowledgeSourceError as exc:
    ...     print(exc)
    '/no/such/folder' is neither a folder nor a git revision written git:REV (e.g. git:HEAD~1)
    """
    if not spec.startswith(GIT_PREFIX):
        yield _folder(spec)
        return
    folder = Path(tempfile.mkdtemp(prefix="netcds-knowledge-"))
    try:
        yield _export(spec, (repo or Path.cwd()).resolve(), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
