"""The API client of training, compiling, jobs and devices: one method per endpoint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from tinymlaas.cli.client import (
    PAGE_SIZE,
    ApiClient,
    ApiError,
    ClientError,
    SavedFile,
    TransferProgress,
    _raise_for_status,
    current_session,
)
from tinymlaas.cli.client_commands import _reporting_errors
from tinymlaas.cli.formatting import Json
from tinymlaas.cli.sse import ServerSentEvent, parse_events


class ModelDoesNotFit(ApiError):
    """The server refused an install (409) because the model cannot fit the device's board.

    Carries the RAM and flash estimates the server measured them by, which `ApiError`
    does not keep.
    """

    def __init__(self, status_code: int, detail: str, ram: Json | None, flash: Json | None) -> None:
        super().__init__(status_code, detail)
        self.ram = ram
        self.flash = flash


class BoardMismatch(ApiError):
    """The server refused an install (409): the model was compiled for another board."""

    def __init__(
        self, status_code: int, detail: str, compiled_board: str, device_board: str
    ) -> None:
        super().__init__(status_code, detail)
        self.compiled_board = compiled_board
        self.device_board = device_board


class MlClient(ApiClient):
    """The API operations of training, compiling, jobs, bridges and devices."""

    def list_architectures(self) -> list[Json]:
        architectures: list[Json] = self._request("GET", "/architectures").json()
        return architectures

    def estimate(self, architecture: str, params: dict[str, str | int | float]) -> Json:
        path = f"/architectures/{quote(architecture, safe='')}/estimate"
        estimate: Json = self._request("GET", path, params=params).json()
        return estimate

    def list_boards(self) -> list[Json]:
        found: list[Json] = self._request("GET", "/boards").json()
        return found

    def train(self, body: Json) -> Json:
        accepted: Json = self._request("POST", "/models", json_body=body).json()
        return accepted

    def import_model(self, path: Path, classes: str, name: str | None, dataset: int | None) -> Json:
        fields = {"classes": classes, **({"name": name} if name else {})}
        if dataset is not None:
            fields["dataset_id"] = str(dataset)
        with path.open("rb") as file:
            model: Json = self._request(
                "POST", "/models/import", data=fields, files=[("file", (path.name, file))]
            ).json()
        return model

    def list_models(self, dataset_id: int | None) -> list[Json]:
        return self._all_pages("/models", {"dataset_id": dataset_id} if dataset_id else {})

    def get_model(self, model_id: int) -> Json:
        model: Json = self._request("GET", f"/models/{model_id}").json()
        return model

    def delete_model(self, model_id: int) -> None:
        self._request("DELETE", f"/models/{model_id}")

    def upload_weights(self, path: Path, name: str | None) -> Json:
        fields = {"name": name} if name else {}
        with path.open("rb") as file:
            base: Json = self._request(
                "POST", "/weights", data=fields, files=[("file", (path.name, file))]
            ).json()
        return base

    def list_weights(self) -> list[Json]:
        return self._all_pages("/weights", {})

    def delete_weights(self, weights_id: int) -> None:
        self._request("DELETE", f"/weights/{weights_id}")

    def compile(self, model_id: int, board: str, quantization: str, engine: str = "tflm") -> Json:
        body = {"board": board, "quantization": quantization, "engine": engine}
        accepted: Json = self._request("POST", f"/models/{model_id}/compile", json_body=body).json()
        return accepted

    def list_compiled(self, model_id: int | None) -> list[Json]:
        return self._all_pages("/compiled", {"model_id": model_id} if model_id else {})

    def get_compiled(self, compiled_id: int) -> Json:
        compiled: Json = self._request("GET", f"/compiled/{compiled_id}").json()
        return compiled

    def delete_compiled(self, compiled_id: int) -> None:
        self._request("DELETE", f"/compiled/{compiled_id}")

    def compiled_files(self, compiled_id: int) -> list[Json]:
        files: list[Json] = self._request("GET", f"/compiled/{compiled_id}/files").json()["items"]
        return files

    def download_file(
        self, compiled_id: int, file: Json, directory: Path, progress: TransferProgress
    ) -> SavedFile:
        """Stream one file into `directory` through `<name>.part`, kept only if its sha256 is
        the one the server listed; an existing file of that name is replaced."""
        name = str(file["name"])
        if name in ("", ".", "..") or PurePosixPath(name).name != name or "\\" in name:
            raise ClientError(f"the server listed a file with an unsafe name: {name!r}")
        destination = directory / name
        partial = destination.with_name(name + ".part")
        digest, size = hashlib.sha256(), 0
        with self._stream(f"/compiled/{compiled_id}/files/{quote(name, safe='')}") as response:
            length = response.headers.get("Content-Length", "")
            progress.start(int(length) if length.isdigit() else None)
            try:
                with partial.open("wb") as output:
                    for chunk in response.iter_bytes():
                        output.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        progress.advance(len(chunk))
                if digest.hexdigest() != file["sha256"]:
                    raise ClientError(f"{name} arrived damaged (its sha256 differs): not saved")
                partial.replace(destination)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return SavedFile(destination, size)

    def list_jobs(self, status: str | None) -> list[Json]:
        return self._all_pages("/jobs", {"status": status} if status else {})

    def get_job(self, job_id: int) -> Json:
        job: Json = self._request("GET", f"/jobs/{job_id}").json()
        return job

    def cancel_job(self, job_id: int) -> Json:
        job: Json = self._request("POST", f"/jobs/{job_id}/cancel").json()
        return job

    def job_events(self, job_id: int, last_event_id: str | None) -> Iterator[ServerSentEvent]:
        """The job's Server-Sent Events after `last_event_id` (all of them without it)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        with self._stream(f"/jobs/{job_id}/events", headers=headers) as response:
            yield from parse_events(response.iter_lines())

    def create_bridge(self, name: str) -> Json:
        """A new bridge with its token and the command that starts it (shown only here)."""
        created: Json = self._request("POST", "/bridges", json_body={"name": name}).json()
        return created

    def list_bridges(self) -> list[Json]:
        bridges: list[Json] = self._request("GET", "/bridges").json()["items"]
        return bridges

    def delete_bridge(self, bridge_id: int) -> None:
        self._request("DELETE", f"/bridges/{bridge_id}")

    def list_devices(self) -> list[Json]:
        devices: list[Json] = self._request("GET", "/devices").json()["items"]
        return devices

    def get_device(self, device_id: int) -> Json:
        device: Json = self._request("GET", f"/devices/{device_id}").json()
        return device

    def update_device(self, device_id: int, changes: Json) -> Json:
        device: Json = self._request("PATCH", f"/devices/{device_id}", json_body=changes).json()
        return device

    def install(self, device_id: int, compiled_id: int, force: bool = False) -> Json:
        """Queue the install of a compiled model; a model too big raises `ModelDoesNotFit`.

        `force` installs a model compiled for another board than the device's.
        """
        payload: Json = {"compiled_id": compiled_id}
        if force:
            payload["force"] = True
        with self._transport_errors():
            response = self._http.post(f"/devices/{device_id}/install", json=payload)
        if response.status_code == 409:
            body = _json_object(response.text)
            if isinstance(body.get("ram"), dict) or isinstance(body.get("flash"), dict):
                refused = ApiError.from_response(response)
                raise ModelDoesNotFit(
                    response.status_code, refused.detail, body.get("ram"), body.get("flash")
                )
            if isinstance(body.get("compiled_board"), str):
                refused = ApiError.from_response(response)
                raise BoardMismatch(
                    response.status_code,
                    refused.detail,
                    body["compiled_board"],
                    str(body.get("device_board")),
                )
        _raise_for_status(response, login=False)
        accepted: Json = response.json()
        return accepted

    def test_on_device(self, device_id: int, payload: Json) -> Json:
        """Queue a test of the installed (or given) compiled model on the board itself."""
        accepted: Json = self._request(
            "POST", f"/devices/{device_id}/test", json_body=payload
        ).json()
        return accepted

    def get_device_test(self, test_id: int) -> Json:
        test: Json = self._request("GET", f"/device-tests/{test_id}").json()
        return test

    def list_device_tests(self, params: dict[str, str | int]) -> list[Json]:
        page: Json = self._request("GET", "/device-tests", params=params).json()
        items: list[Json] = page["items"]
        return items

    def capture(self, device_id: int, payload: Json) -> Json:
        """Queue a capture of camera frames from the board into a dataset folder."""
        path = f"/devices/{device_id}/capture"
        accepted: Json = self._request("POST", path, json_body=payload).json()
        return accepted

    def get_capture(self, capture_id: int) -> Json:
        capture: Json = self._request("GET", f"/device-captures/{capture_id}").json()
        return capture

    def list_observations(self, device_id: int, limit: int) -> Json:
        """The device's latest `limit` predictions, oldest first, and how many it has."""
        path = f"/devices/{device_id}/observations"
        page: Json = self._request("GET", path, params={"limit": limit}).json()
        return page

    def observe(self, device_id: int, last_event_id: str | None) -> Iterator[ServerSentEvent]:
        """The device's new predictions as Server-Sent Events (after `last_event_id` if given)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        with self._stream(f"/devices/{device_id}/observe", headers=headers) as response:
            yield from parse_events(response.iter_lines())

    def _all_pages(self, path: str, params: dict[str, str | int]) -> list[Json]:
        items: list[Json] = []
        while True:
            query = params | {"offset": len(items), "limit": PAGE_SIZE}
            page: Json = self._request("GET", path, params=query).json()
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items


def _json_object(text: str) -> Json:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@contextmanager
def logged_in_client() -> Iterator[MlClient]:
    """A client of the logged-in server; any client error ends the command."""
    with _reporting_errors():
        server, token = current_session()
        api = MlClient(server, token)
        with api:
            yield api
