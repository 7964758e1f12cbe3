# `factstr serve` in a container, over a SQLite file in the volume /data (or any store: set FACTSTR_STORE).
#
#   docker build -t factstr .
#   docker run -p 7117:7117 -v factstr-data:/data -e FACTSTR_TOKEN=change-me factstr
#
# It listens on 0.0.0.0 inside the container, so it refuses to start without a token (FACTSTR_TOKEN).
# The PostgreSQL driver is included: -e FACTSTR_STORE=postgresql://user@host/db serves a database instead.

FROM python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# Wheels of factstr and its dependencies, so the final image gets no compiler and no build cache.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[server,postgres]"

FROM python:3.12-slim-bookworm
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin factstr \
    && mkdir -p /data \
    && chown factstr:factstr /data
USER factstr
WORKDIR /data
VOLUME ["/data"]
ENV FACTSTR_STORE=sqlite:////data/factstr.db \
    PYTHONUNBUFFERED=1
EXPOSE 7117
# /healthz reads the head: healthy while the store answers (it needs no token).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7117/healthz', timeout=4)"]
ENTRYPOINT ["factstr"]
CMD ["serve", "--host", "0.0.0.0", "--port", "7117"]
