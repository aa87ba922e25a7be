# One image for the API, the Ray head and the Ray workers: Ray and Python versions must match everywhere.
FROM rayproject/ray:2.60.0-py311-cpu
WORKDIR /app
# CPU-only torch from PyTorch's index (PyPI's default torch wheel is a multi-GB CUDA build)
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users core core
COPY --chown=ray:users search_spaces search_spaces
COPY --chown=ray:users evaluators evaluators
COPY --chown=ray:users predictors predictors
COPY --chown=ray:users store store
COPY --chown=ray:users workers workers
COPY --chown=ray:users service service
RUN pip install --no-cache-dir .
ENV NAS_HOME=/data PYTHONUNBUFFERED=1
