"""Service settings, read once from ``NAS_*`` environment variables (or ``.env``) and injected.

They live in `store`, the lowest layer that both the API and the Ray workers use, so a worker on
another machine reads the same database and artifact folder as the API that scheduled it.
Nothing is built at import: call `get_settings()` (cached) or construct `Settings(...)` in tests.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SYSTEM_DATA_DIRS = (Path("/usr/share/datasets"),)  # Debian's dataset-* packages install here


class Settings(BaseSettings):
    """Every setting has an environment variable: ``NAS_<NAME>`` (e.g. ``NAS_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="NAS_", env_file=".env", extra="ignore")

    home: Path = Field(Path("var"), description="Folder for the default SQLite database and artifacts.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in home.")
    artifact_dir: Path | None = Field(None, description="Checkpoints, tables, exports; default: home/artifacts.")
    data_dir: Path | None = Field(None, description="Datasets folder, searched before /usr/share/datasets.")
    ray_address: str | None = Field(None, description="None starts a local Ray; or 'auto', 'ray://host:10001'.")
    ray_num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray (default: all).")
    pool_size: int = Field(2, ge=1, le=256, description="Evaluator actors per running job.")
    max_running_jobs: int = Field(2, ge=1, le=1000, description="Jobs run at once by this controller.")
    lease_seconds: float = Field(30.0, gt=0, description="A runner silent this long is presumed dead.")
    local_devices: str = Field("cpu,cpu-onnx", description="Built-in devices this host measures (comma-separated).")
    api_key: SecretStr | None = Field(
        None, description="The service's own (admin) key for mutating endpoints; generated when unset."
    )
    read_requires_key: bool = Field(False, description="Reading endpoints need a key too (the dashboard then cannot).")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'nas.db').resolve()}"

    @property
    def artifacts(self) -> Path:
        return (self.artifact_dir or self.home / "artifacts").resolve()

    @property
    def local_device_names(self) -> list[str]:
        return [d.strip() for d in self.local_devices.split(",") if d.strip()]

    @property
    def data_dirs(self) -> tuple[Path, ...]:
        """Where datasets are looked up, in order."""
        own = (self.data_dir or self.home / "data").resolve()
        return (own, *SYSTEM_DATA_DIRS)


@cache
def get_settings() -> Settings:
    """The process's settings (cached)."""
    return Settings()
