# ok: dockerfile-no-user
FROM python:3.12-slim AS build
RUN pip wheel -w /wheels requests

# ruleid: dockerfile-no-user
FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install /wheels/*
CMD ["python", "-m", "app"]
