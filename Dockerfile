# One image for the four services; docker-compose.yml picks the service with `command:`
# (python -m services.identity | services.custody | services.recovery | services.reporting).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

# The same uv that resolves uv.lock in `make install`.
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.9

WORKDIR /app

# Dependencies first (their layer is reused until pyproject.toml or uv.lock change), exactly as locked.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the code, and the project itself (editable: /app is on sys.path, `bpass` is on PATH).
COPY README.md ./
COPY contracts/ contracts/
COPY services/ services/
COPY bpass/ bpass/
RUN uv sync --frozen --no-dev

# Non-root. /keys holds the API keyring (BPASS_API_KEYS_FILE); docker-compose.yml mounts a named volume there,
# which Docker initialises from this directory, so it stays writable by this user.
RUN groupadd --system --gid 10001 bpass \
    && useradd --system --uid 10001 --gid bpass --home-dir /app --no-create-home bpass \
    && mkdir -p /keys /app/var \
    && chown bpass:bpass /keys /app/var
USER bpass

ENV PATH=/app/.venv/bin:$PATH \
    BPASS_HTTP_HOST=0.0.0.0 \
    BPASS_API_KEYS_FILE=/keys/api-keys.json

EXPOSE 8101 8102 8103 8104

CMD ["python", "-m", "services.reporting"]
