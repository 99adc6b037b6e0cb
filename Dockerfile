# Multi-stage image: build a virtualenv, then run it as a non-root user.
# The container runs the same commands as `make run`: `credence db upgrade`, then `credence serve`.
FROM python:3.11-slim AS build
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY credentials ./credentials
COPY alembic ./alembic
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 credence
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY alembic ./alembic
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CREDENCE_DATABASE_URL=sqlite:////data/credence.db
RUN mkdir /data && chown credence /data
USER credence
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["sh", "-c", "credence db upgrade && exec credence serve --host 0.0.0.0 --port 8000 --workers ${CREDENCE_WORKERS:-2}"]
