# Build stage: a wheel of scalerd and its dependencies, installed into a prefix copied into the final image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY constraints/image.txt ./constraints/image.txt
COPY scalerd ./scalerd
# Every dependency at its pinned version (constraints/image.txt): one commit, one image. No matplotlib (the plot extra).
RUN pip install --no-cache-dir --prefix=/install -c constraints/image.txt .

# Final stage: no compilers, no pip caches, a numeric non-root user.
FROM python:3.11-slim
COPY --from=build /install /usr/local
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["scalerd"]
CMD ["run", "--config-map=scalerd/scalerd-config", "--lease-namespace=scalerd"]
