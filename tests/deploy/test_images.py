"""The images keep TensorFlow out of the API, run unprivileged, and carry no build secrets;
the compose files parse."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.engine import ROOT, docker

pytestmark = pytest.mark.deploy


def python_in(image: str, code: str) -> subprocess.CompletedProcess[str]:
    return docker("run", "--rm", "--entrypoint", "python", image, "-c", code, check=False)


def test_the_api_image_has_no_tensorflow(images: dict[str, str]) -> None:
    result = python_in(images["api"], "import tensorflow")
    assert result.returncode != 0
    assert "No module named 'tensorflow'" in result.stderr
    # …yet it has what serving needs, including the per-job container executor's SDK.
    served = python_in(images["api"], "import tinymlaas.app, psycopg, pymysql, docker; print('ok')")
    assert served.stdout.strip() == "ok", served.stderr


def test_the_worker_image_trains_and_converts(images: dict[str, str]) -> None:
    result = python_in(
        images["worker"],
        "import tensorflow, tflite_micro, ai_edge_litert.interpreter;"
        " print(tensorflow.__version__)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "2.21.0"


@pytest.mark.parametrize("image", ["api", "worker"])
def test_images_run_unprivileged_without_build_secrets(images: dict[str, str], image: str) -> None:
    result = docker(
        "run", "--rm", "--entrypoint", "sh", images[image], "-c",
        "id -u; ls -A /run/secrets 2>/dev/null | wc -l; env | grep -c '^PIP_CERT=' || true",
    )  # fmt: skip
    uid, secret_files, pip_cert = result.stdout.split()
    assert uid != "0"
    assert secret_files == "0"  # the CA bundle was mounted for pip only, never copied in
    assert pip_cert == "0"
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", images[image]).stdout
    assert "ca-certificates.crt" not in history


def compose_config(tmp_path: Path, *files: str, extra_env: str = "") -> dict:  # type: ignore[type-arg]
    """`docker-compose config` of the files, with .env.example as the project's .env."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.fail("docker-compose (Debian's v1) is needed to check the compose files")
    for name in files:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, target)
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text() + extra_env)
    arguments = [item for name in files for item in ("-f", name)]
    result = subprocess.run(
        [compose, *arguments, "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


def test_the_compose_stack_parses(tmp_path: Path) -> None:
    config = compose_config(tmp_path, "docker-compose.yml")
    services = config["services"]
    assert set(services) == {"db", "redis", "api", "worker", "bridge"}
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["db"]
    assert "container_name" not in services["worker"]  # --scale worker=N
    assert services["bridge"]["profiles"] == ["bridge"]
    assert services["bridge"]["group_add"] == ["dialout"]
    # Data lives in named volumes, so `down`/`up` and rebuilds keep it.
    assert "postgres-data:/var/lib/postgresql/data:rw" in services["db"]["volumes"]
    assert set(config["volumes"]) == {"postgres-data", "redis-data", "weights"}
    url = services["worker"]["environment"]["TINYMLAAS_DATABASE_URL"]
    assert url == "postgresql://tinymlaas:change-me-postgres-password@db:5432/tinymlaas"
    assert config["networks"]["backend"]["internal"] is True


def test_the_mariadb_variant_parses(tmp_path: Path) -> None:
    config = compose_config(
        tmp_path,
        "docker-compose.yml",
        "docker-compose.mariadb.yml",
        extra_env="MARIADB_PASSWORD=maria-pw\nMARIADB_ROOT_PASSWORD=root-pw\n",
    )
    services = config["services"]
    assert services["db"]["image"].startswith("mariadb:")
    for name in ("api", "worker"):
        url = services[name]["environment"]["TINYMLAAS_DATABASE_URL"]
        assert url == "mysql://tinymlaas:maria-pw@db:3306/tinymlaas"
    assert "mariadb-data:/var/lib/mysql:rw" in services["db"]["volumes"]


def test_the_per_job_container_variant_parses(tmp_path: Path) -> None:
    config = compose_config(
        tmp_path, "docker-compose.yml", "docker/compose.jobs.yml", extra_env="DOCKER_GID=998\n"
    )
    environment = config["services"]["api"]["environment"]
    assert environment["TINYMLAAS_EXECUTOR"] == "docker"
    assert environment["TINYMLAAS_DOCKER_NETWORK"] == config["networks"]["backend"]["name"]
