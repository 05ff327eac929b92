# One image for every PakLog process; the command picks the role
# (`paklog gateway`, `paklog worker`, `paklog service <name>`, `paklog migrate`).
# Runtime dependencies only (requirements-runtime.lock): no test runner, linters or test server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PAKLOG_LOG_FORMAT=json

WORKDIR /app
COPY requirements-runtime.lock ./
RUN python -m pip install --require-hashes --no-deps -r requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY common ./common
COPY services ./services
COPY activities ./activities
COPY workflows ./workflows
COPY gateway ./gateway
COPY paklog ./paklog
RUN python -m pip install --no-deps . \
    && useradd --system --uid 10001 paklog \
    && mkdir -p /var/lib/paklog && chown paklog /var/lib/paklog
# /var/lib/paklog: state of the carrier stand-in (a named volume in docker-compose.yml).
USER paklog

EXPOSE 8000
CMD ["paklog", "gateway", "--host", "0.0.0.0"]
