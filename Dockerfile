# One image for the web app (default command) and the scheduler:
#   docker run --env-file cronicorn.env IMAGE
#   docker run --env-file cronicorn.env IMAGE python manage.py runscheduler
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --create-home --home-dir /home/cronicorn cronicorn

COPY pyproject.toml README.md ./
COPY cronicorn ./cronicorn
COPY jobs ./jobs
COPY synthetic ./synthetic
COPY monitoring ./monitoring
COPY templates ./templates
COPY manage.py ./
RUN pip install -e . && \
    SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput && \
    mkdir -p /app/data && chown cronicorn /app/data

USER cronicorn
EXPOSE 8000
CMD ["gunicorn", "cronicorn.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
