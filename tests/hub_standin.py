"""A local stand-in for the Hugging Face Hub, for tests of push / download code (no network needed).

`LocalHubServer` is a small HTTP server on 127.0.0.1 (a thread, port chosen by the OS) that speaks the
part of the Hub's HTTP API that `huggingface_hub` 2.x uses for:

- creating / deleting repositories (`create_repo`, `delete_repo`), model, dataset and space repos;
- committing files (`create_commit`, `upload_file`, `upload_folder`, `push_to_hub` of transformers and
  datasets): `preupload` answers "regular" for small text files (content base64-encoded inside the NDJSON
  commit body) and "lfs" for binary formats (Parquet, safetensors, ...) and files of 10 MiB or more, which
  then go through the basic git-LFS batch API (one PUT per file to the stand-in itself). LFS is needed
  because `datasets.push_to_hub` deletes each Parquet shard right after its pre-upload. No Xet: the
  fixture sets `HF_HUB_DISABLE_XET=1` (and `hf_xet` is not installed here);
- reading repositories (`repo_info`, `model_info`, `dataset_info`, `list_repo_refs`, `list_repo_commits`,
  `list_repo_tree`, `get_paths_info`) and files (`hf_hub_download`, `snapshot_download`, `HfFileSystem`
  and therefore `datasets.load_dataset(repo_id)`, `AutoModel.from_pretrained(repo_id)`,
  `pipeline(model=repo_id, trust_remote_code=True)`): `resolve` answers HEAD and GET (with `Range`) with
  the headers the client checks (`X-Repo-Commit`, `ETag`, `Content-Length`).

Each commit stores a full snapshot of the repository (path -> stored file); file contents live in the
server's folder, named by git blob id (regular files) or sha256 (LFS files). Revisions are `main` or a
commit id. Not supported (answered with HTTP 501 and recorded in `LocalHubServer.unhandled`): pull requests,
branches other than `main`, tags, Xet, multipart LFS. Repository ids need a namespace (`user/name`).

Usage in a test (the fixture points `huggingface_hub`, `datasets` and `transformers` at the stand-in, in
this process and, through `subprocess_env()`, in a fresh one)::

    # the `local_hub` fixture is registered in tests/conftest.py

    def test_push_and_load(local_hub, tmp_path):
        dataset.push_to_hub("someone/ecg")                       # goes to the stand-in
        code = "import datasets; print(datasets.load_dataset('someone/ecg'))"
        subprocess.run([sys.executable, "-c", code], env=local_hub.subprocess_env(), check=True)

Outside pytest: `with LocalHubServer(folder) as hub: ...` and pass `hub.subprocess_env()` to child processes.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

logger = logging.getLogger(__name__)

REPO_TYPES = ("model", "dataset", "space")
DEFAULT_BRANCH = "main"
STANDIN_TOKEN = "hf_local_standin_token"
STANDIN_USER = "local-user"
# Files the real Hub stores in LFS by its default .gitattributes (binary formats), plus anything large.
LFS_SUFFIXES = (
    ".parquet",
    ".arrow",
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".npy",
    ".npz",
    ".h5",
    ".onnx",
    ".msgpack",
    ".pkl",
    ".zip",
    ".gz",
    ".tar",
    ".zst",
    ".mat",
    ".dat",
    ".wav",
    ".png",
    ".jpg",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
_LFS_UPLOAD_ROUTE = "__lfs_upload"
_INITIAL_GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
)


def git_blob_id(content: bytes) -> str:
    """The git object id of a file's content (what the Hub reports as `oid` of a regular file)."""
    return hashlib.sha1(b"blob " + str(len(content)).encode() + b"\0" + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-LFS pointer file that git stores in place of an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class HubError(Exception):
    """An error answered to the client with the Hub's `X-Error-Code` header convention."""

    def __init__(self, status: int, message: str, error_code: str | None = None, commit: str | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.commit = commit


@dataclasses.dataclass(frozen=True)
class StoredFile:
    """A file of a commit: git blob id, size in bytes, and sha256 when stored in LFS."""

    blob_id: str
    size: int
    lfs_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class Commit:
    """One commit: a full snapshot of the repository (path -> StoredFile)."""

    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, StoredFile]


@dataclasses.dataclass
class Repository:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: list[Commit] = dataclasses.field(default_factory=list)

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def resolve_revision(self, revision: str) -> Commit:
        if revision in (DEFAULT_BRANCH, "refs/heads/main"):
            return self.head
        if _COMMIT_ID.match(revision):
            for commit in self.commits:
                if commit.oid == revision:
                    return commit
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class HubStore:
    """Repositories and file contents of the stand-in; thread-safe.

    Regular contents are files `blobs/<git blob id>`, LFS contents `lfs/<sha256>`.
    """

    def __init__(self, folder: Path):
        self.blob_folder = Path(folder) / "blobs"
        self.lfs_folder = Path(folder) / "lfs"
        self.blob_folder.mkdir(parents=True, exist_ok=True)
        self.lfs_folder.mkdir(parents=True, exist_ok=True)
        self._repositories: dict[tuple[str, str], Repository] = {}
        self._lock = threading.Lock()

    # -- contents ----------------------------------------------------------------------------------
    @staticmethod
    def _write_atomically(path: Path, content: bytes) -> None:
        if not path.exists():
            tmp = path.with_name(f"{path.name}.tmp{threading.get_ident()}")
            tmp.write_bytes(content)
            tmp.replace(path)

    def put_regular(self, content: bytes) -> StoredFile:
        blob_id = git_blob_id(content)
        self._write_atomically(self.blob_folder / blob_id, content)
        return StoredFile(blob_id, len(content))

    def put_lfs_object(self, sha256: str, content: bytes) -> None:
        if hashlib.sha256(content).hexdigest() != sha256:
            raise HubError(400, f"LFS upload: content does not match sha256 {sha256}")
        self._write_atomically(self.lfs_folder / sha256, content)

    def has_lfs_object(self, sha256: str) -> bool:
        return (self.lfs_folder / sha256).exists()

    def lfs_file(self, sha256: str, size: int) -> StoredFile:
        if not self.has_lfs_object(sha256):
            raise HubError(400, f"LFS object {sha256} was not uploaded before the commit")
        return StoredFile(git_blob_id(lfs_pointer(sha256, size)), size, sha256)

    def content_path(self, stored: StoredFile) -> Path:
        return self.lfs_folder / stored.lfs_sha256 if stored.lfs_sha256 else self.blob_folder / stored.blob_id

    # -- repositories ------------------------------------------------------------------------------
    def create(self, repo_type: str, repo_id: str, private: bool) -> Repository:
        with self._lock:
            if (repo_type, repo_id) in self._repositories:
                raise HubError(409, "You already created this repo")
            repository = Repository(repo_type, repo_id, private, _now())
            initial = {".gitattributes": self.put_regular(_INITIAL_GITATTRIBUTES)}
            repository.commits.append(_new_commit(repository, None, "initial commit", "", initial))
            self._repositories[(repo_type, repo_id)] = repository
            return repository

    def delete(self, repo_type: str, repo_id: str) -> None:
        with self._lock:
            if self._repositories.pop((repo_type, repo_id), None) is None:
                raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")

    def get(self, repo_type: str, repo_id: str) -> Repository:
        with self._lock:
            repository = self._repositories.get((repo_type, repo_id))
        if repository is None:
            raise HubError(404, f"Repository Not Found for url: {repo_type}s/{repo_id}", "RepoNotFound")
        return repository

    def commit(
        self,
        repository: Repository,
        revision: str,
        header: dict[str, Any],
        additions: dict[str, StoredFile],
        deleted_files: list[str],
        deleted_folders: list[str],
    ) -> Commit:
        """Applies one commit on `main` (the only branch) and returns it."""
        if revision not in (DEFAULT_BRANCH, "refs/heads/main"):
            raise HubError(501, f"The Hub stand-in only commits to '{DEFAULT_BRANCH}', not to {revision!r}")
        with self._lock:
            head = repository.head
            parent_commit = header.get("parentCommit")
            if parent_commit is not None and parent_commit != head.oid:
                raise HubError(412, f"A commit has happened since {parent_commit}. Please refresh and try again.")
            files = dict(head.files)
            for path in deleted_files:
                if files.pop(path, None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            for folder in deleted_folders:
                prefix = folder.rstrip("/") + "/"
                files = {path: stored for path, stored in files.items() if not path.startswith(prefix)}
            files.update(additions)
            commit = _new_commit(repository, head.oid, header.get("summary", ""), header.get("description", ""), files)
            repository.commits.append(commit)
            return commit


def _new_commit(
    repository: Repository, parent: str | None, title: str, message: str, files: dict[str, StoredFile]
) -> Commit:
    listing = sorted((path, stored.blob_id) for path, stored in files.items())
    seed = json.dumps([repository.repo_type, repository.repo_id, parent, title, listing, len(repository.commits)])
    return Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, title, message, _now(), files)


def _folders_of(paths: Iterator[str] | list[str]) -> set[str]:
    folders: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return folders


def _folder_entry(commit: Commit, folder: str) -> dict[str, Any]:
    prefix = folder + "/"
    listing = sorted((path, stored.blob_id) for path, stored in commit.files.items() if path.startswith(prefix))
    return {
        "type": "directory",
        "oid": hashlib.sha1(json.dumps(listing).encode()).hexdigest(),
        "size": 0,
        "path": folder,
    }


def _file_entry(path: str, stored: StoredFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": stored.blob_id, "size": stored.size, "path": path}
    if stored.lfs_sha256:
        pointer_size = len(lfs_pointer(stored.lfs_sha256, stored.size))
        entry["lfs"] = {"oid": stored.lfs_sha256, "size": stored.size, "pointerSize": pointer_size}
    return entry


def _repo_url_prefix(repo_type: str) -> str:
    return "" if repo_type == "model" else f"{repo_type}s/"


class _HubRequestHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the Hub API subset described in the module docstring."""

    protocol_version = "HTTP/1.1"
    server: _HubHTTPServer

    # -- plumbing ----------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        logger.debug("hub stand-in: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        segments = [unquote(part) for part in url.path.split("/") if part]
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.server.requests.append((method, url.path))
        try:
            body = self._read_body()
            self._route(method, segments, query, body)
        except HubError as error:
            headers = {"X-Error-Message": str(error)}
            if error.error_code:
                headers["X-Error-Code"] = error.error_code
            if error.commit:
                headers["X-Repo-Commit"] = error.commit
            if error.status == 501:
                self.server.unhandled.append(f"{method} {self.path}: {error}")
            self._send_json({"error": str(error)}, status=error.status, headers=headers, head=method == "HEAD")
        except Exception as error:  # a bug of the stand-in: answer 500, record it, keep serving
            logger.exception("hub stand-in failed on %s %s", method, self.path)
            self.server.unhandled.append(f"{method} {self.path}: {error!r}")
            self._send_json({"error": repr(error)}, status=500, head=method == "HEAD")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(
        self, payload: Any, status: int = 200, headers: dict[str, str] | None = None, head: bool = False
    ) -> None:
        data = json.dumps(payload).encode()
        self._send(status, data, {"Content-Type": "application/json", **(headers or {})}, head=head)

    def _send(
        self, status: int, data: bytes, headers: dict[str, str], head: bool = False, length: int | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    @property
    def _store(self) -> HubStore:
        return self.server.store

    # -- routing -----------------------------------------------------------------------------------
    def _route(self, method: str, segments: list[str], query: dict[str, str], body: bytes) -> None:
        if segments[:1] == ["api"]:
            self._route_api(method, segments[1:], query, body)
            return
        if len(segments) == 2 and segments[0] == _LFS_UPLOAD_ROUTE and method == "PUT":
            self._store.put_lfs_object(segments[1], body)
            self._send_json({})
            return
        # Repository URLs: /{ns}/{name}/..., /datasets/{ns}/{name}/..., /spaces/{ns}/{name}/...
        repo_type = "model"
        if segments and segments[0] in ("datasets", "spaces"):
            repo_type, segments = segments[0][:-1], segments[1:]
        if len(segments) >= 4 and segments[2] == "resolve" and method in ("GET", "HEAD"):
            self._resolve(repo_type, "/".join(segments[:2]), segments[3], "/".join(segments[4:]), head=method == "HEAD")
        elif segments[2:] == ["info", "lfs", "objects", "batch"] and segments[1].endswith(".git") and method == "POST":
            self._lfs_batch(json.loads(body))
        else:
            raise HubError(501, f"The Hub stand-in does not implement {method} /{'/'.join(segments)}")

    def _route_api(self, method: str, segments: list[str], query: dict[str, str], body: bytes) -> None:
        if segments == ["whoami-v2"]:
            self._send_json(
                {"type": "user", "name": STANDIN_USER, "orgs": [], "auth": {"accessToken": {"role": "write"}}}
            )
        elif segments == ["agent-harnesses"]:  # huggingface_hub's telemetry registry: an empty one
            self._send_json({"standardEnvVars": [], "harnesses": {}})
        elif segments == ["validate-yaml"] and method == "POST":
            self._send_json({"errors": [], "warnings": []})
        elif segments == ["repos", "create"] and method == "POST":
            self._create_repo(json.loads(body or b"{}"))
        elif segments == ["repos", "delete"] and method == "DELETE":
            payload = json.loads(body or b"{}")
            self._store.delete(
                payload.get("type") or "model", f"{payload.get('organization') or STANDIN_USER}/{payload['name']}"
            )
            self._send_json({})
        elif len(segments) >= 3 and segments[0] in ("models", "datasets", "spaces"):
            repository = self._store.get(segments[0][:-1], "/".join(segments[1:3]))
            self._route_repo(method, repository, segments[3:], query, body)
        else:
            raise HubError(501, f"The Hub stand-in does not implement {method} /api/{'/'.join(segments)}")

    def _route_repo(
        self, method: str, repository: Repository, action: list[str], query: dict[str, str], body: bytes
    ) -> None:
        verb, rest = (action[0], action[1:]) if action else ("", [])
        if verb == "" and method == "GET":
            self._send_json(self._repo_info(repository, repository.head))
        elif verb == "revision" and rest and method == "GET":
            self._send_json(self._repo_info(repository, repository.resolve_revision(rest[0])))
        elif verb == "tree" and rest and method == "GET":
            recursive = query.get("recursive", "false").lower() in ("1", "true")
            self._send_json(self._tree(repository.resolve_revision(rest[0]), "/".join(rest[1:]).strip("/"), recursive))
        elif verb == "paths-info" and rest and method == "POST":
            paths = parse_qs(body.decode()).get("paths", [])
            self._send_json(self._paths_info(repository.resolve_revision(rest[0]), paths))
        elif verb == "preupload" and rest and method == "POST":
            self._preupload(repository.resolve_revision(rest[0]), json.loads(body))
        elif verb == "commit" and rest and method == "POST":
            if query.get("create_pr") in ("1", "true"):
                raise HubError(501, "The Hub stand-in does not support pull requests")
            self._commit(repository, rest[0], body)
        elif verb == "refs" and method == "GET":
            branch = {"name": DEFAULT_BRANCH, "ref": "refs/heads/main", "targetCommit": repository.head.oid}
            self._send_json({"branches": [branch], "converts": [], "tags": [], "pullRequests": []})
        elif verb == "commits" and rest and method == "GET":
            self._send_json(self._commit_history(repository, repository.resolve_revision(rest[0])))
        elif verb in ("settings", "auth-check") and method in ("PUT", "GET"):
            self._send_json({})
        else:
            raise HubError(501, f"The Hub stand-in does not implement {method} .../{'/'.join(action)}")

    # -- handlers ----------------------------------------------------------------------------------
    def _create_repo(self, payload: dict[str, Any]) -> None:
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        repo_id = f"{payload.get('organization') or STANDIN_USER}/{payload['name']}"
        url = f"{self.server.endpoint}/{_repo_url_prefix(repo_type)}{repo_id}"
        try:
            self._store.create(repo_type, repo_id, private=payload.get("visibility") == "private")
        except HubError as error:
            if error.status != 409:
                raise
            # As the Hub: the conflict names the existing repository (`create_repo(exist_ok=True)` reads its url).
            self._send_json({"error": str(error), "url": url}, status=409, headers={"X-Error-Message": str(error)})
            return
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    @staticmethod
    def _repo_info(repository: Repository, commit: Commit) -> dict[str, Any]:
        siblings = []
        for path, stored in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path, "size": stored.size, "blobId": stored.blob_id}
            if stored.lfs_sha256:
                pointer_size = len(lfs_pointer(stored.lfs_sha256, stored.size))
                sibling["lfs"] = {"size": stored.size, "sha256": stored.lfs_sha256, "pointerSize": pointer_size}
            siblings.append(sibling)
        return {
            "_id": hashlib.sha1(repository.repo_id.encode()).hexdigest()[:24],
            "id": repository.repo_id,
            "author": repository.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repository.created_at,
            "private": repository.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }

    @staticmethod
    def _tree(commit: Commit, folder: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = folder + "/" if folder else ""
        folders = _folders_of(list(commit.files))
        if folder and folder not in folders:
            raise HubError(404, f"{folder} does not exist on {commit.oid}", "EntryNotFound", commit=commit.oid)

        def is_listed(path: str) -> bool:
            return path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])

        entries = [_folder_entry(commit, sub) for sub in sorted(folders) if is_listed(sub)]
        return entries + [_file_entry(path, stored) for path, stored in sorted(commit.files.items()) if is_listed(path)]

    @staticmethod
    def _paths_info(commit: Commit, paths: list[str]) -> list[dict[str, Any]]:
        folders = _folders_of(list(commit.files))
        entries = []
        for path in (p.strip("/") for p in paths):
            if path in commit.files:
                entries.append(_file_entry(path, commit.files[path]))
            elif path in folders:
                entries.append(_folder_entry(commit, path))
        return entries

    def _preupload(self, commit: Commit, payload: dict[str, Any]) -> None:
        answer = []
        for item in payload.get("files", []):
            lfs = item["path"].lower().endswith(LFS_SUFFIXES) or item["size"] >= LFS_MIN_SIZE
            existing = commit.files.get(item["path"])
            # The client compares this oid with its own: sha256 for LFS files, git blob id for regular ones.
            oid = (existing.lfs_sha256 if lfs else existing.blob_id) if existing else None
            answer.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._send_json({"files": answer, "commitOid": commit.oid})

    def _lfs_batch(self, payload: dict[str, Any]) -> None:
        if payload.get("operation") != "upload":
            raise HubError(501, "The Hub stand-in's LFS batch API only uploads")
        objects = []
        for item in payload["objects"]:
            answer: dict[str, Any] = {"oid": item["oid"], "size": item["size"]}
            if not self._store.has_lfs_object(item["oid"]):
                answer["actions"] = {"upload": {"href": f"{self.server.endpoint}/{_LFS_UPLOAD_ROUTE}/{item['oid']}"}}
            objects.append(answer)
        self._send_json({"transfer": "basic", "objects": objects})

    def _commit(self, repository: Repository, revision: str, body: bytes) -> None:
        header: dict[str, Any] = {}
        additions: dict[str, StoredFile] = {}
        deleted_files: list[str] = []
        deleted_folders: list[str] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                content = value["content"]
                data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                additions[value["path"]] = self._store.put_regular(data)
            elif key == "lfsFile":
                additions[value["path"]] = self._store.lfs_file(value["oid"], int(value["size"]))
            elif key == "deletedFile":
                deleted_files.append(value["path"])
            elif key == "deletedFolder":
                deleted_folders.append(value["path"])
            else:
                raise HubError(501, f"The Hub stand-in does not support commit operation {key!r}")
        commit = self._store.commit(repository, revision, header, additions, deleted_files, deleted_folders)
        commit_url = (
            f"{self.server.endpoint}/{_repo_url_prefix(repository.repo_type)}{repository.repo_id}/commit/{commit.oid}"
        )
        self._send_json({"success": True, "commitOid": commit.oid, "commitUrl": commit_url, "pullRequestUrl": None})

    @staticmethod
    def _commit_history(repository: Repository, commit: Commit) -> list[dict[str, Any]]:
        by_oid = {c.oid: c for c in repository.commits}
        history = []
        current: Commit | None = commit
        while current is not None:
            history.append(
                {
                    "id": current.oid,
                    "title": current.title,
                    "message": current.message,
                    "date": current.date,
                    "authors": [{"user": STANDIN_USER}],
                }
            )
            current = by_oid.get(current.parent) if current.parent else None
        return history

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str, head: bool) -> None:
        commit = self._store.get(repo_type, repo_id).resolve_revision(revision)
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", commit=commit.oid)
        etag = f'"{stored.lfs_sha256 or stored.blob_id}"'
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if stored.lfs_sha256:  # what the Hub sends for LFS files (before redirecting to its CDN)
            headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(stored.size)})
        if head:
            self._send(200, b"", headers, head=True, length=stored.size)
            return
        content = self._store.content_path(stored).read_bytes()
        byte_range = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if byte_range is None:
            self._send(200, content, headers)
            return
        start = int(byte_range.group(1) or 0)
        end = min(int(byte_range.group(2)) if byte_range.group(2) else stored.size - 1, stored.size - 1)
        if start >= stored.size:
            raise HubError(416, f"Range not satisfiable for {path}")
        headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
        self._send(206, content[start : end + 1], headers)


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: HubStore):
        super().__init__(("127.0.0.1", 0), _HubRequestHandler)
        self.store = store
        self.endpoint = f"http://127.0.0.1:{self.server_address[1]}"
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[str] = []


class LocalHubServer:
    """The stand-in Hub: `with LocalHubServer(folder) as hub:` serves on `hub.endpoint` until the block ends.

    Attributes: `endpoint` (e.g. "http://127.0.0.1:43121"), `token`, `requests` ((method, path) seen),
    `unhandled` (requests the stand-in could not answer: a test can assert it stays empty).
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.token = STANDIN_TOKEN
        self._server = _HubHTTPServer(HubStore(self.folder / "storage"))
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-standin", daemon=True)
        self._fresh_caches = 0

    @property
    def endpoint(self) -> str:
        return self._server.endpoint

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self._server.requests

    @property
    def unhandled(self) -> list[str]:
        return self._server.unhandled

    def __enter__(self) -> LocalHubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def repo_files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """Contents of the head commit of a repository: {path: bytes}."""
        store = self._server.store
        return {
            path: store.content_path(stored).read_bytes()
            for path, stored in store.get(repo_type, repo_id).head.files.items()
        }

    def environment(self, cache_folder: str | os.PathLike[str]) -> dict[str, str]:
        """Environment variables that point huggingface_hub / datasets / transformers at the stand-in,
        with caches under `cache_folder` (so nothing leaks into, or is read from, the user's cache)."""
        cache = Path(cache_folder)
        return {
            "HF_ENDPOINT": self.endpoint,
            "HF_TOKEN": self.token,
            "HF_HOME": str(cache),
            "HF_HUB_CACHE": str(cache / "hub"),
            "HF_DATASETS_CACHE": str(cache / "datasets"),
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "TRANSFORMERS_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1",
        }

    def subprocess_env(self, cache_folder: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`os.environ` plus `environment(...)`, for `subprocess.run(..., env=hub.subprocess_env())`.

        By default each call gets a fresh, empty cache folder, so a fresh process downloads from the
        stand-in instead of reading what the pushing process cached.
        """
        if cache_folder is None:
            self._fresh_caches += 1
            cache_folder = self.folder / f"subprocess-cache-{self._fresh_caches}"
        return {**os.environ, **self.environment(cache_folder)}

    def patch_current_process(self, monkeypatch: pytest.MonkeyPatch, cache_folder: str | os.PathLike[str]) -> None:
        """Points the already imported huggingface_hub / datasets at the stand-in for the rest of a test.

        Both libraries read `HF_ENDPOINT`, the offline flags and the cache paths once, at import time, into
        module constants: setting the environment is not enough in a running process.
        """
        environment = self.environment(cache_folder)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        from huggingface_hub import constants

        for name, value in {
            "ENDPOINT": self.endpoint,
            "HUGGINGFACE_CO_URL_TEMPLATE": self.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
            "HF_HUB_OFFLINE": False,
            "HF_HUB_DISABLE_XET": True,
            "HF_HOME": environment["HF_HOME"],
            "HF_HUB_CACHE": environment["HF_HUB_CACHE"],
            "HF_TOKEN_PATH": str(Path(environment["HF_HOME"]) / "token"),
            "AGENT_HARNESSES_PATH": str(Path(environment["HF_HOME"]) / ".agent_harnesses.json"),
        }.items():
            monkeypatch.setattr(constants, name, value)
        try:
            import datasets.config as datasets_config
        except ImportError:  # datasets is not needed by model-only tests
            return
        for name, value in {
            "HF_ENDPOINT": self.endpoint,
            "HUB_DATASETS_URL": self.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_CACHE": Path(environment["HF_DATASETS_CACHE"]),
        }.items():
            monkeypatch.setattr(datasets_config, name, value)


@pytest.fixture
def local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHubServer]:
    """A running `LocalHubServer` with this process pointed at it (env vars and library constants);
    `local_hub.subprocess_env()` gives the environment for a fresh interpreter."""
    with LocalHubServer(tmp_path / "local-hub") as hub:
        hub.patch_current_process(monkeypatch, tmp_path / "hf-home")
        yield hub
