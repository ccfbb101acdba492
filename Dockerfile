# One image for the API (with its web UI) and every worker pool; docker-compose.yml picks the role.

# The web UI, built from the committed lockfile; only its static output goes into the image.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run build -- --outDir /web/dist

FROM python:3.11-slim

# Node.js for nodejs actions; bash for shell actions (slim images have it, stated for clarity).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm bash \
 && rm -rf /var/lib/apt/lists/*

# The containers run as root; workers run action processes as this unprivileged user, so an
# action cannot read ATTUNE_SECRET_KEY or the database URL from its worker (see README,
# "Isolation"). Pack virtualenvs are built (as root) under /var/cache/attune/envs, readable by it.
RUN useradd --system --create-home --shell /usr/sbin/nologin attune-action

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY --from=web /web/dist ./src/attune/webui/static
RUN pip install --no-cache-dir .

# Packs live at the same path in every container: workflow inputs carry absolute pack paths.
COPY packs /packs
ENV ATTUNE_PACKS_DIR=/packs

EXPOSE 8000
CMD ["attune", "api", "--host", "0.0.0.0", "--port", "8000"]
