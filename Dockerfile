# Canopy application image: used by the web, worker and beat services in docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEBUG=false \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not invalidate the pip layer. python-ldap compiles
# against libldap/libsasl (build tools removed afterwards; the runtime libraries stay).
COPY requirements.txt .
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libldap2-dev libsasl2-dev \
    && pip install -r requirements.txt \
    && apt-get purge -y gcc libldap2-dev libsasl2-dev && apt-get autoremove -y \
    && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/*

# /app itself is created by root; the app writes var/ (beat schedule) and staticfiles/ in it.
RUN useradd --create-home --uid 1000 canopy && chown canopy:canopy /app

COPY --chown=canopy:canopy . .

USER canopy

# Static files are baked into the image (with DEBUG=false, so whitenoise's manifest is built);
# the dummy key and throwaway sqlite path only exist so settings load, no database is touched.
RUN SECRET_KEY=build-only-not-secret \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput

EXPOSE 8000

CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", \
     "--access-logfile", "-", "--error-logfile", "-"]
