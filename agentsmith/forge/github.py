"""GitHub as a forge, over its REST API (plain HTTPS + JSON; GitHub Enterprise via GITHUB_API_URL)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

from agentsmith.errors import UserError
from agentsmith.seams import PullRequest


@dataclass
class GitHubForge:
    repository: str  # "owner/name"
    token: str
    api_url: str = "https://api.github.com"
    name: str = "github"

    @classmethod
    def from_env(cls, repository: str | None) -> GitHubForge:
        repository = repository or os.environ.get("GITHUB_REPOSITORY")
        if not repository or repository.count("/") != 1:
            raise UserError("no GitHub repository given", "pass --github-repo OWNER/NAME or set GITHUB_REPOSITORY")
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        if not token:
            raise UserError(
                "no GitHub token", "set GITHUB_TOKEN (in Actions: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`)"
            )
        return cls(
            repository=repository,
            token=token,
            api_url=os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        )

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "agentsmith",
        }
        try:
            response = httpx.request(method, f"{self.api_url}{path}", json=payload, headers=headers, timeout=30)
        except httpx.HTTPError as err:
            raise UserError(
                f"GitHub API at {self.api_url} is unreachable ({type(err).__name__})",
                "check GITHUB_API_URL and the network",
            ) from None
        if response.status_code >= 400:
            detail = response.json().get("message", "") if "json" in response.headers.get("content-type", "") else ""
            raise UserError(
                f"GitHub API {method} {path} answered {response.status_code} {detail}".rstrip(),
                "check the token's permissions (contents: write, pull-requests: write)",
            )
        return response.json() if response.content else None

    def issue(self, number: int) -> dict[str, Any]:
        return self._request("GET", f"/repos/{self.repository}/issues/{number}")

    def open_pull_request(
        self, *, branch: str, base: str, title: str, body: str, draft: bool, labels: list[str]
    ) -> PullRequest:
        pr = self._request(
            "POST",
            f"/repos/{self.repository}/pulls",
            {"title": title, "head": branch, "base": base, "body": body, "draft": draft},
        )
        if labels:
            self._request("POST", f"/repos/{self.repository}/issues/{pr['number']}/labels", {"labels": labels})
        return PullRequest(url=pr["html_url"], number=pr["number"], draft=bool(pr.get("draft", draft)), labels=labels)
