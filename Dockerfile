# The image the services of docker-compose.yml run: this repository, installed
# and built. The services start node directly (exec form), so SIGTERM reaches it.
FROM node:20-bookworm-slim
RUN npm install --global --save-exact pnpm@12.4.2
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile && pnpm build
