"""A local Hugging Face hub for tests: an HTTP server on 127.0.0.1 answering the endpoints the real
``datasets`` / ``huggingface_hub`` / ``transformers`` clients call for a repo at a revision.

Endpoints (as the clients call them, huggingface_hub 2.x):
  GET  /api/{datasets,models}/<repo>[/revision/<rev>]     repo info (sha, siblings, cardData)
  GET  /api/{datasets,models}/<repo>/tree/<rev>[/<path>]  tree listing (?recursive=true)
  POST /api/{datasets,models}/<repo>/paths-info/<rev>     info on given paths
  HEAD|GET /[datasets/]<repo>/resolve/<rev>/<path>        a file (X-Repo-Commit, ETag)
Errors carry the hub's ``X-Error-Code`` header (RepoNotFound, RevisionNotFound, EntryNotFound),
so the clients raise their own exception types. ``requests`` keeps a log of what was asked.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Revision:
    sha: str
    files: dict[str, bytes]


@dataclass
class Repo:
    """A hub repo: commits by sha, and refs (branch names) pointing at commits."""

    repo_id: str
    kind: str = "dataset"  # "dataset" | "model"
    commits: dict[str, Revision] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "main" -> sha, ...
    card_data: dict | None = None

    def add_commit(self, sha: str, files: dict[str, bytes], *refs: str) -> None:
        if len(sha) != 40:
            raise ValueError(f"{self.repo_id}: a commit sha has 40 hex digits, got {sha!r}")
        self.commits[sha] = Revision(sha, dict(files))
        for ref in refs:
            self.refs[ref] = sha

    def resolve(self, rev: str | None) -> Revision | None:
        rev = rev or "main"
        if rev in self.refs:
            return self.commits[self.refs[rev]]
        return self.commits.get(rev)


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubEmulator:
    """``with HubEmulator(repos) as hub: ... hub.url``: serves `repos` until the block ends."""

    def __init__(self, repos: list[Repo] | None = None):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        for repo in repos or []:
            self.add(repo)
        self._server: ThreadingHTTPServer | None = None

    def add(self, repo: Repo) -> Repo:
        self.repos[(repo.kind, repo.repo_id)] = repo
        return repo

    @property
    def url(self) -> str:
        assert self._server is not None, "the emulator is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubEmulator:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- routing helpers

    def split_repo(self, kind: str, parts: list[str]) -> tuple[Repo | None, list[str]]:
        """The known repo whose id is the longest prefix of `parts`, and the rest of the path
        (legacy ids have one segment, e.g. "xlm-roberta-large"; others two)."""
        for n in (2, 1):
            repo = self.repos.get((kind, "/".join(parts[:n])))
            if repo is not None and len(parts) >= n:
                return repo, parts[n:]
        return None, parts[2:] if len(parts) > 2 else []


def _entries(rev: Revision, prefix: str, recursive: bool) -> list[dict]:
    prefix = prefix.strip("/")
    files, dirs = [], set()
    for path, data in sorted(rev.files.items()):
        if prefix and not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1:] if prefix else path
        parts = rest.split("/")
        base = f"{prefix}/" if prefix else ""
        for i in range(1, len(parts)):  # parent folders
            if recursive or i == 1:
                dirs.add(base + "/".join(parts[:i]))
        if recursive or len(parts) == 1:
            files.append(_file_entry(path, data))
    out = [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
    return out + files


def _file_entry(path: str, data: bytes) -> dict:
    entry = {"type": "file", "oid": _git_oid(data), "size": len(data), "path": path}
    if not path.endswith((".md", ".json", ".py", ".yaml", ".txt")):
        entry["lfs"] = {"oid": _etag(data), "size": len(data), "pointerSize": 134}
    return entry


class _Handler(BaseHTTPRequestHandler):
    hub: HubEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- responses

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, headers: dict | None = None) -> None:
        self._send(200, json.dumps(obj).encode(), headers)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message})

    # -- dispatch

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.hub.requests.append((self.command, self.path))
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        query = parse_qs(url.query)
        body = b""
        if self.command == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts[:1] == ["api"] and len(parts) >= 2 and parts[1] in ("datasets", "models"):
            return self._api(parts[1][:-1], parts[2:], query, body)
        kind = "model"
        if parts[:1] == ["datasets"]:
            kind, parts = "dataset", parts[1:]
        repo, rest = self.hub.split_repo(kind, parts)
        if len(rest) >= 2 and rest[0] == "resolve":
            return self._resolve(kind, repo, parts, rest[1:])
        self._error(404, "EntryNotFound", f"no route for {self.command} {self.path}")

    def _revision(self, repo: Repo | None, kind: str, rev: str | None) -> Revision | None:
        if repo is None:
            self._error(404, "RepoNotFound", f"{kind} repository not found")
            return None
        found = repo.resolve(rev)
        if found is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return found

    def _api(self, kind: str, parts: list[str], query: dict, body: bytes) -> None:
        repo, rest = self.hub.split_repo(kind, parts)
        if not rest or rest[0] == "revision":
            # /api/<kind>s/<repo> or /revision/<rev...> (a ref may hold slashes, sent encoded)
            rev = "/".join(rest[1:]) if rest else None
            found = self._revision(repo, kind, rev)
            if found is None:
                return
            info = {"id": repo.repo_id, "_id": _etag(repo.repo_id.encode())[:24],
                    "sha": found.sha, "private": False, "gated": False, "disabled": False,
                    "downloads": 0, "likes": 0, "tags": [], "lastModified":
                    "2024-01-01T00:00:00.000Z", "createdAt": "2020-01-01T00:00:00.000Z",
                    "siblings": [{"rfilename": p} for p in sorted(found.files)]}
            if repo.card_data is not None:
                info["cardData"] = repo.card_data
            if kind == "model":
                info["modelId"] = repo.repo_id
            return self._json(info)
        if rest[0] in ("tree", "paths-info") and len(rest) >= 2:
            rev_name, path = rest[1], "/".join(rest[2:])
            found = self._revision(repo, kind, rev_name)
            if found is None:
                return
            if rest[0] == "tree":
                if path and path not in found.files and not any(
                        p.startswith(path + "/") for p in found.files):
                    return self._error(404, "EntryNotFound", f"{path} does not exist")
                recursive = query.get("recursive", ["false"])[0].lower() == "true"
                return self._json(_entries(found, path, recursive))
            paths = _form_paths(body, self.headers.get("Content-Type", ""))
            out = []
            for p in paths:
                if p in found.files:
                    out.append(_file_entry(p, found.files[p]))
                elif any(f.startswith(p.rstrip("/") + "/") for f in found.files):
                    out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": p})
            return self._json(out)
        self._error(404, "EntryNotFound", f"no API route for {self.path}")

    def _resolve(self, kind: str, repo: Repo | None, parts: list[str], rest: list[str]) -> None:
        # rest = [rev, *path]; a ref with slashes arrives URL-encoded in one segment
        found = self._revision(repo, kind, rest[0])
        if found is None:
            return
        path = "/".join(rest[1:])
        data = found.files.get(path)
        if data is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {found.sha}")
        etag = _etag(data) if "lfs" in _file_entry(path, data) else _git_oid(data)
        headers = {"X-Repo-Commit": found.sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if "lfs" in _file_entry(path, data):
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(data))
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and self.command == "GET":
            start_s, _, end_s = rng[6:].partition("-")
            start = int(start_s or 0)
            end = int(end_s) if end_s else len(data) - 1
            chunk = data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(chunk) - 1}/{len(data)}"
            self.send_response(206)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(chunk)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(chunk)
            return
        self._send(200, data, headers, "application/octet-stream")


def _form_paths(body: bytes, content_type: str) -> list[str]:
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        obj = json.loads(text or "{}")
        paths = obj.get("paths", [])
        return [paths] if isinstance(paths, str) else list(paths)
    return parse_qs(text).get("paths", [])
