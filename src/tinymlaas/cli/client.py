"""The HTTP API client the CLI uses, and where it keeps the login credentials."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote

import httpx
import platformdirs

from tinymlaas.cli.client_types import (
    DatasetInfo,
    DatasetPage,
    FolderInfo,
    UploadedDatasetInfo,
    UserInfo,
)

API_PREFIX = "/api/v1"
DEFAULT_SERVER = "http://127.0.0.1:8000"
CONFIG_DIR_ENV = "TINYMLAAS_CONFIG_DIR"
SERVER_ENV = "TINYMLAAS_SERVER"
TOKEN_ENV = "TINYMLAAS_TOKEN"
PAGE_SIZE = 1000
# Imports are processed before the server answers, so reads may wait long after the upload.
TIMEOUT = httpx.Timeout(30.0, read=900.0, write=900.0)

UploadFiles = Sequence[tuple[str, tuple[str, BinaryIO]]]


class TransferProgress(Protocol):
    """Told the size of a transfer once known, then each count of bytes moved."""

    def start(self, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...


class ClientError(Exception):
    """A problem to show the user as it is; the CLI prints it and exits with 1."""


class NotLoggedIn(ClientError):
    def __init__(self) -> None:
        super().__init__("not logged in or the token expired: run tinymlaas login")


class ServerUnreachable(ClientError):
    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"cannot reach the TinyMLaaS server at {server}: {reason}")


@dataclass(frozen=True)
class EntryProblem:
    entry: str
    problem: str


class ApiError(ClientError):
    """An error answer of the API: its `detail` and, for rejected uploads, each entry's problem."""

    def __init__(self, status_code: int, detail: str, errors: Sequence[EntryProblem] = ()) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = list(errors)

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read `{"detail", "errors"}`, FastAPI's validation errors, or fall back to the status."""
        try:
            body = response.json()
        except ValueError:
            body = None
        fallback = f"the server answered {response.status_code} {response.reason_phrase}"
        if not isinstance(body, dict):
            return cls(response.status_code, fallback)
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI's 422: [{"loc": [...], "msg": ...}]
            problems = [_validation_problem(item) for item in detail if isinstance(item, dict)]
            return cls(response.status_code, "the server refused the request as invalid", problems)
        errors = [
            EntryProblem(str(item.get("entry", "")), str(item.get("problem", "")))
            for item in body.get("errors") or []
            if isinstance(item, dict)
        ]
        return cls(response.status_code, str(detail) if detail else fallback, errors)


def _validation_problem(item: dict[str, Any]) -> EntryProblem:
    location = [str(part) for part in item.get("loc", []) if part not in ("body", "query", "path")]
    return EntryProblem(".".join(location), str(item.get("msg", "")))


@dataclass(frozen=True)
class Credentials:
    server: str
    username: str
    token: str


def normalize_server(url: str) -> str:
    """Accept `host:port` as well as a full URL; drop trailing slashes."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_config_dir("tinymlaas"))


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def save_credentials(credentials: Credentials) -> Path:
    """Write the credentials readable by their owner only (mode 0600), replacing older ones."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(asdict(credentials), file, indent=2)
    os.chmod(temporary, 0o600)  # the mode given to os.open does not apply to an existing file
    os.replace(temporary, path)
    return path


def load_credentials() -> Credentials | None:
    """The stored credentials, or None when there are none (or they cannot be read)."""
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
        return Credentials(str(data["server"]), str(data["username"]), str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_credentials() -> Credentials | None:
    """Delete the stored credentials; returns what was stored."""
    stored = load_credentials()
    credentials_path().unlink(missing_ok=True)
    return stored


def current_session() -> tuple[str, str]:
    """The server and token to use: the environment overrides what `login` stored.

    A stored token is only sent to the server it was issued by, so pointing TINYMLAAS_SERVER
    elsewhere never leaks it.
    """
    stored = load_credentials()
    environment_server = os.environ.get(SERVER_ENV)
    if environment_server:
        server = normalize_server(environment_server)
    else:
        server = stored.server if stored else DEFAULT_SERVER
    token = os.environ.get(TOKEN_ENV) or (
        stored.token if stored and normalize_server(stored.server) == server else None
    )
    if not token:
        raise NotLoggedIn()
    return server, token


@dataclass(frozen=True)
class SavedFile:
    path: Path
    size: int


class ApiClient:
    """One method per API operation used by the CLI; errors become `ClientError`s."""

    def __init__(
        self, server: str, token: str | None = None, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.server = normalize_server(server)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.server + API_PREFIX, headers=headers, timeout=TIMEOUT, transport=transport
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def login(self, username: str, password: str) -> str:
        """Exchange a username and password for a bearer token."""
        response = self._request(
            "POST", "/auth/token", data={"username": username, "password": password}, login=True
        )
        token: str = response.json()["access_token"]
        return token

    def me(self) -> UserInfo:
        user: UserInfo = self._request("GET", "/users/me").json()
        return user

    def list_datasets(self) -> DatasetPage:
        """Every dataset of the user, fetched page by page."""
        items: list[DatasetInfo] = []
        while True:
            params = {"offset": len(items), "limit": PAGE_SIZE}
            page: DatasetPage = self._request("GET", "/datasets", params=params).json()
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return DatasetPage(items=items, total=page["total"])

    def get_dataset(self, dataset_id: int) -> DatasetInfo:
        dataset: DatasetInfo = self._request("GET", f"/datasets/{dataset_id}").json()
        return dataset

    def list_folders(self, dataset_id: int) -> list[FolderInfo]:
        folders: list[FolderInfo] = self._request("GET", f"/datasets/{dataset_id}/folders").json()[
            "items"
        ]
        return folders

    def create_dataset(self, name: str, description: str) -> DatasetInfo:
        body = {"name": name, "description": description}
        dataset: DatasetInfo = self._request("POST", "/datasets", json_body=body).json()
        return dataset

    def import_dataset(
        self, archive: BinaryIO, filename: str, name: str, description: str
    ) -> UploadedDatasetInfo:
        """Create a dataset from a zip; the file object is streamed, not read into memory."""
        dataset: UploadedDatasetInfo = self._request(
            "POST",
            "/datasets/import",
            data={"name": name, "description": description},
            files=[("file", (filename, archive))],
        ).json()
        return dataset

    def add_images(self, dataset_id: int, files: UploadFiles, folder: str) -> UploadedDatasetInfo:
        """Add images or zips of images to a folder; `files` are (field, (name, file)) pairs."""
        dataset: UploadedDatasetInfo = self._request(
            "POST", f"/datasets/{dataset_id}/images", data={"folder": folder}, files=files
        ).json()
        return dataset

    def delete_dataset(self, dataset_id: int) -> None:
        self._request("DELETE", f"/datasets/{dataset_id}")

    def export_dataset(
        self, dataset_id: int, output: Path | None, progress: TransferProgress
    ) -> SavedFile:
        """Download the dataset's zip (see `download`)."""
        return self.download(
            f"/datasets/{dataset_id}/export", output, progress, f"dataset-{dataset_id}.zip"
        )

    def download(
        self, path: str, output: Path | None, progress: TransferProgress, fallback: str
    ) -> SavedFile:
        """Download `path` through `<output>.part`, renamed only once complete.

        Without `output` (or with a directory) the file takes the name the server suggests
        (else `fallback`), and an existing file of that name is left alone.
        """
        with self._transport_errors(), self._http.stream("GET", path) as response:
            if not response.is_success:
                response.read()
                _raise_for_status(response, login=False)
            if output is not None and not output.is_dir():
                destination = output
            else:
                suggested = _attachment_filename(response) or fallback
                destination = (output or Path()) / suggested
                if destination.exists():  # only a name the user gave may be overwritten
                    raise ClientError(f"{destination} already exists: choose the file with -o")
            length = response.headers.get("Content-Length", "")
            progress.start(int(length) if length.isdigit() else None)
            partial = destination.with_name(destination.name + ".part")
            size = 0
            try:
                with partial.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
                        size += len(chunk)
                        progress.advance(len(chunk))
                partial.replace(destination)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return SavedFile(destination, size)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | float] | None = None,
        json_body: Mapping[str, object] | None = None,
        data: dict[str, str] | None = None,
        files: UploadFiles | None = None,
        login: bool = False,
    ) -> httpx.Response:
        with self._transport_errors():
            response = self._http.request(
                method, path, params=params, json=json_body, data=data, files=files
            )
        _raise_for_status(response, login=login)
        return response

    @contextmanager
    def _stream(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """GET `path` as a stream whose status is checked; reading it may raise ClientError."""
        with self._transport_errors(), self._http.stream("GET", path, headers=headers) as response:
            if not response.is_success:
                response.read()
                _raise_for_status(response, login=False)
            yield response

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnreachable(self.server, str(exc) or type(exc).__name__) from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ClientError(f"the connection to {self.server} failed: {reason}") from exc


def _raise_for_status(response: httpx.Response, *, login: bool) -> None:
    if response.is_success:
        return
    if response.status_code == 401 and not login:
        raise NotLoggedIn()
    raise ApiError.from_response(response)


def _attachment_filename(response: httpx.Response) -> str | None:
    """The bare file name of `Content-Disposition: attachment; filename*=UTF-8''…`, if any."""
    disposition = response.headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename*" and value.lower().startswith("utf-8''"):
            name = Path(unquote(value[len("utf-8''") :])).name
        elif key.lower() == "filename":
            name = Path(value.strip('"')).name
        else:
            continue
        if name not in ("", ".", ".."):
            return name
    return None
