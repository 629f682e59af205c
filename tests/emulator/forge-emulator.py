#!/usr/bin/env python3
"""forge-emulator: github.com and gitlab.com, as far as handoff uses them.

One HTTP server, state in memory and bare git repositories in --state-dir:

  /github/api/...              GitHub REST (a subset)
  /github/git/OWNER/REPO.git   GitHub git over smart HTTP
  /gitlab/api/v4/...           GitLab REST (a subset)
  /gitlab/GROUP/PROJECT.git    GitLab git over smart HTTP
  /_admin/...                  set-up, faults and inspection for tests (no auth)

tests/emulator/README.md documents every route.  Standard library only;
git (git http-backend) and openssl (JWT signatures) are run as commands.
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GH_VERSIONS = {"2022-11-28", "2026-03-10"}
GH_REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
# role set through /_admin/permissions -> what the permission endpoint says
GH_ROLES = {"admin": "admin", "maintain": "write", "write": "write",
            "triage": "read", "read": "read", "none": "none"}
GH_RATE_LIMIT, GL_RATE_LIMIT = 5000, 2000
GIT_DATE = "2024-01-01T00:00:00+0000"   # fixed: the initial commit is reproducible
MAX_BODY = 16 << 20


def iso(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Answer(Exception):
    """An answer other than the handler's normal one: raise from anywhere."""
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def gh_fail(status, message, errors=None):
    body = {"message": message, "documentation_url": "https://docs.github.com/rest",
            "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return Answer(status, body)


def gh_invalid(resource, field, code="missing_field"):
    return gh_fail(422, "Validation Failed",
                   [{"resource": resource, "code": code, "field": field}])


def gl_fail(status, message):
    return Answer(status, {"message": message})


def git(args, cwd=None, input=None, check=True):
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Forge Emulator",
               GIT_AUTHOR_EMAIL="emulator@localhost", GIT_COMMITTER_NAME="Forge Emulator",
               GIT_COMMITTER_EMAIL="emulator@localhost", GIT_AUTHOR_DATE=GIT_DATE,
               GIT_COMMITTER_DATE=GIT_DATE, GIT_TERMINAL_PROMPT="0")
    r = subprocess.run(["git", *args], cwd=cwd, input=input, env=env, capture_output=True)
    if check and r.returncode != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args), r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode(errors="replace").strip() if r.returncode == 0 else None


def paginate(items, query, default, maximum):
    """A page of items and its (page, per_page, pages) from ?page=&per_page=."""
    try:
        per = max(1, min(maximum, int(query.get("per_page", default))))
        page = max(1, int(query.get("page", 1)))
    except ValueError:
        per, page = default, 1
    pages = max(1, (len(items) + per - 1) // per)
    return items[(page - 1) * per:page * per], page, per, pages


def link_header(url, query, page, pages):
    links = []
    for rel, p in (("prev", page - 1), ("next", page + 1), ("first", 1), ("last", pages)):
        if 1 <= p <= pages and (rel not in ("prev", "next") or p != page):
            q = dict(query, page=str(p))
            links.append('<%s?%s>; rel="%s"' % (url, urllib.parse.urlencode(q), rel))
    return ", ".join(links)


class Emulator:
    """All the state, behind one lock, and both forges' handlers."""

    def __init__(self, root, seed):
        self.lock = threading.RLock()
        self.root = os.path.abspath(root)
        self.git_root = os.path.join(self.root, "git")
        self.tmp = os.path.join(self.root, "tmp")
        os.makedirs(self.git_root, exist_ok=True)
        os.makedirs(self.tmp, exist_ok=True)
        self.rng = random.Random(seed)
        self.base = ""                # http://HOST:PORT, once bound
        self.repos = {}               # (forge, path) -> repo
        self.projects = {}            # gitlab numeric id -> repo
        self.tokens = {}              # (forge, token) -> {user, user_id, can_write, expires}
        self.profiles = {}            # (forge, login) -> {name, email, commit_email, public_email}
        self.apps = {}                # app_id -> app
        self.users = {"github": {}, "gitlab": {}}   # login -> numeric id
        self.faults, self.requests = [], []
        self.next_id, self.next_repo_id, self.next_fault = 1001, 1, 1
        self.rate_used = {}           # token -> requests this window
        self.check_runs = {}          # id -> GitHub check run, with its repo, ref, annotations, log
        self.pipelines = {}           # id -> GitLab pipeline: repo, ref, status, job ids
        self.gl_jobs = {}             # id -> GitLab job: pipeline, name, stage, status, trace
        self.blob_base = ""           # http://HOST:PORT of the log download host, once bound
        self.blob_requests = []       # requests the download host saw, headers and all
        self.window = int(time.time()) // 3600 * 3600 + 3600

    def new_id(self):
        self.next_id += 1
        return self.next_id - 1

    def user_id(self, forge, login, uid=None):
        ids = self.users[forge]
        if uid is not None:
            ids[login] = int(uid)
        elif login not in ids:
            ids[login] = 100 + len(ids) + 1
        return ids[login]

    def token(self, forge, value):
        t = self.tokens.get((forge, value)) if value else None
        if t and t.get("expires") and t["expires"] < time.time():
            return None
        return t

    # ---------------------------------------------------------------- repos

    def create_repo(self, forge, path, default_branch, source):
        if forge not in ("github", "gitlab"):
            raise Answer(400, {"error": "forge must be github or gitlab"})
        parts = path.split("/") if isinstance(path, str) else []
        if (len(parts) < 2 or (forge == "github" and len(parts) != 2)
                or any(not re.fullmatch(r"[A-Za-z0-9_.-]+", p) or p in (".", "..")
                       or p.endswith(".git") for p in parts)):
            raise Answer(400, {"error": "bad path %r (owner/repo, or group/.../project)" % path})
        if (forge, path) in self.repos:
            raise Answer(409, {"error": "repository exists"})
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", default_branch):
            raise Answer(400, {"error": "bad default_branch"})
        d = os.path.join(self.git_root, forge, path + ".git")
        shutil.rmtree(d, ignore_errors=True)       # left over from an earlier run
        os.makedirs(os.path.dirname(d), exist_ok=True)
        git(["init", "-q", "--bare", "-b", default_branch, d])
        git(["-C", d, "config", "receive.denyNonFastForwards", "true"])
        git(["-C", d, "config", "http.receivepack", "true"])
        if source:
            if not os.path.isabs(source) or not os.path.isdir(source):
                raise Answer(400, {"error": "from must be an absolute path to a git repository"})
            try:
                git(["-C", source, "push", "-q", d, "refs/heads/*:refs/heads/*",
                     "refs/tags/*:refs/tags/*"])
            except RuntimeError as e:
                raise Answer(400, {"error": str(e)})
        else:
            readme = ("# %s\n\nA repository of the forge emulator.\n" % path).encode()
            blob = git(["-C", d, "hash-object", "-w", "--stdin"], input=readme)
            tree = git(["-C", d, "mktree"], input=("100644 blob %s\tREADME.md\n" % blob).encode())
            commit = git(["-C", d, "commit-tree", tree, "-m", "Initial commit"])
            git(["-C", d, "update-ref", "refs/heads/" + default_branch, commit])
        git(["-C", d, "symbolic-ref", "HEAD", "refs/heads/" + default_branch])
        repo = {"forge": forge, "path": path, "id": self.next_repo_id, "dir": d,
                "default_branch": default_branch, "issues": {}, "pulls": {},
                "comments": {}, "perms": {}, "members": {}, "review_comments": []}
        self.next_repo_id += 1
        self.repos[(forge, path)] = repo
        if forge == "gitlab":
            self.projects[repo["id"]] = repo
        return repo

    def clone_url(self, repo):
        if repo["forge"] == "github":
            return "%s/github/git/%s.git" % (self.base, repo["path"])
        return "%s/gitlab/%s.git" % (self.base, repo["path"])

    def web_url(self, repo):
        return "%s/%s/%s" % (self.base, repo["forge"], repo["path"])

    def branch_sha(self, repo, branch):
        if not branch or branch.startswith("-"):
            return None
        return git(["-C", repo["dir"], "rev-parse", "-q", "--verify",
                    "refs/heads/%s^{commit}" % branch], check=False)

    def branches(self, repo):
        out = git(["-C", repo["dir"], "for-each-ref", "--format=%(refname:short) %(objectname)",
                   "refs/heads/"], check=False) or ""
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def can_write(self, repo, tok):
        """The token's scope, narrowed by the user's role where one was set."""
        if not tok or not tok["can_write"]:
            return False
        if repo["forge"] == "github":
            role = repo["perms"].get(tok["user"])
            return role is None or GH_ROLES[role] in ("admin", "write")
        m = repo["members"].get(tok["user_id"])
        return m is None or m["access_level"] >= 30

    def thread(self, repo, kind, n):
        """An issue or pull/merge request; GitHub numbers both as issues."""
        try:
            n = int(n)
        except (TypeError, ValueError):
            return None
        if repo["forge"] == "github" and kind == "issues":
            return repo["issues"].get(n) or repo["pulls"].get(n)
        return repo["issues" if kind == "issues" else "pulls"].get(n)

    def next_number(self, repo, kind):
        if repo["forge"] == "github":
            return max([0, *repo["issues"], *repo["pulls"]]) + 1
        return max([0, *repo["issues" if kind == "issues" else "pulls"]]) + 1

    def add_comment(self, repo, th, body, user):
        c = {"id": self.new_id(), "body": body, "user": user, "created_at": iso(),
             "updated_at": iso(), "reactions": []}
        th["comments"].append(c)
        repo["comments"][c["id"]] = (th, c)
        th["updated_at"] = iso()
        return c

    def react(self, target, user, name):
        """(created?, reaction): an existing one of the same user and name is kept."""
        for r in target["reactions"]:
            if r["user"] == user and r["content"] == name:
                return False, r
        r = {"id": self.new_id(), "content": name, "user": user, "created_at": iso()}
        target["reactions"].append(r)
        return True, r

    # --------------------------------------------------------------- faults

    def pick_fault(self, method, path):
        key = "%s %s" % (method, path)
        with self.lock:
            for f in self.faults:
                if not f["re"].search(key):
                    continue
                if f.get("count") is not None:
                    if f["remaining"] <= 0:
                        continue
                    f["remaining"] -= 1
                elif self.rng.random() >= f["rate"]:
                    continue
                f["fired"] += 1
                return f
        return None

    def add_fault(self, spec):
        kinds = ("500", "502", "429", "403-secondary", "slow", "hold", "drop")
        kind = str(spec.get("kind", ""))
        if kind not in kinds:
            raise Answer(400, {"error": "kind must be one of " + ", ".join(kinds)})
        try:
            rx = re.compile(spec.get("route", ""))
        except re.error as e:
            raise Answer(400, {"error": "route: %s" % e})
        f = {"id": self.next_fault, "route": rx.pattern, "re": rx, "kind": kind,
             "rate": float(spec.get("rate", 1.0)), "count": spec.get("count"),
             "retry_after": spec.get("retry_after", 1), "delay": float(spec.get("delay", 2)),
             "fired": 0, "released": threading.Event()}
        if f["count"] is not None:
            f["count"] = f["remaining"] = int(f["count"])
        self.next_fault += 1
        self.faults.append(f)
        return f

    @staticmethod
    def fault_json(f):
        return {k: v for k, v in f.items() if k not in ("re", "released")}

    # A "hold" fault keeps its request until the test releases it (or the
    # faults are deleted); HOLD_MAX seconds at most, so a test that forgets
    # cannot hang a client for ever.
    HOLD_MAX = 300

    @classmethod
    def delay(cls, f):
        if f["kind"] == "hold":
            f["released"].wait(cls.HOLD_MAX)
        else:
            time.sleep(f["delay"])

    # ---------------------------------------------------------------- admin

    def admin(self, method, path, query, body):
        b = body if isinstance(body, dict) else {}
        with self.lock:
            if (method, path) == ("POST", "/_admin/repos"):
                repo = self.create_repo(b.get("forge"), b.get("path"),
                                        b.get("default_branch") or "main", b.get("from"))
                return 201, self.repo_state(repo)
            if (method, path) == ("POST", "/_admin/tokens"):
                forge, value, user = b.get("forge"), b.get("token"), b.get("user")
                if forge not in ("github", "gitlab") or not value or not user:
                    raise Answer(400, {"error": "need forge, token and user"})
                t = {"forge": forge, "token": value, "user": user,
                     "user_id": self.user_id(forge, user, b.get("user_id")),
                     "can_write": bool(b.get("can_write", True)),
                     "expires": b.get("expires_at")}
                self.tokens[(forge, value)] = t
                profile = {k: b[k] for k in ("name", "email", "commit_email", "public_email") if k in b}
                if profile:
                    self.profiles[(forge, user)] = profile
                return 201, t
            if (method, path) == ("POST", "/_admin/apps"):
                return 201, self.admin_app(b)
            if (method, path) == ("POST", "/_admin/permissions"):
                return 201, self.admin_permission(b)
            if (method, path) == ("POST", "/_admin/issues"):
                repo = self.admin_repo(b)
                n = int(b.get("number") or self.next_number(repo, "issues"))
                if self.thread(repo, "issues", n):
                    raise Answer(409, {"error": "number %d is taken" % n})
                user = b.get("user") or "octocat"
                self.user_id(repo["forge"], user)
                issue = {"number": n, "id": self.new_id(), "title": b.get("title", "An issue"), "body": b.get("body", ""),
                         "user": user, "state": b.get("state", "open" if repo["forge"] == "github" else "opened"),
                         "created_at": iso(), "updated_at": iso(), "comments": [], "reactions": [],
                         "labels": b.get("labels", [])}
                repo["issues"][n] = issue
                return 201, issue
            if (method, path) == ("POST", "/_admin/comments"):
                repo = self.admin_repo(b)
                th = self.thread(repo, b.get("kind", "issues"), b.get("number"))
                if not th:
                    raise Answer(404, {"error": "no such issue"})
                self.user_id(repo["forge"], b.get("user") or "octocat")
                c = self.add_comment(repo, th, b.get("body", ""), b.get("user") or "octocat")
                # GitLab: a reply in a discussion, or a note on the diff.
                if b.get("discussion_id"):
                    c["discussion_id"] = str(b["discussion_id"])
                if isinstance(b.get("position"), dict):
                    c["position"] = b["position"]
                return 201, c
            if (method, path) == ("POST", "/_admin/review_comments"):
                repo = self.admin_repo(dict(b, forge="github"))
                if int(b.get("pull", 0)) not in repo["pulls"]:
                    raise Answer(404, {"error": "no such pull request"})
                c = {"id": self.new_id(), "pull": int(b["pull"]),
                     "review_id": int(b.get("review_id") or self.new_id()),
                     "path": b.get("path", "README.md"), "line": b.get("line", 1),
                     "diff_hunk": b.get("diff_hunk", ""), "body": b.get("body", ""),
                     "user": b.get("user") or "octocat", "in_reply_to_id": None,
                     "created_at": iso(), "updated_at": iso(), "reactions": []}
                self.user_id("github", c["user"])
                repo["review_comments"].append(c)
                return 201, c
            if (method, path) == ("POST", "/_admin/check-runs"):
                return 201, self.admin_check_runs(b)
            if (method, path) == ("POST", "/_admin/pipelines"):
                return 201, self.admin_pipeline(b)
            if (method, path) == ("GET", "/_admin/blob-requests"):
                return 200, self.blob_requests
            if path == "/_admin/faults":
                if method == "POST":
                    specs = body if isinstance(body, list) else [b]
                    return 201, [self.fault_json(self.add_fault(s)) for s in specs]
                if method == "DELETE":
                    for f in self.faults:
                        f["released"].set()
                    self.faults = []
                    return 200, []
                return 200, [self.fault_json(f) for f in self.faults]
            if method == "POST" and re.fullmatch(r"/_admin/faults/\d+/release", path):
                fid = int(path.split("/")[3])
                for f in self.faults:
                    if f["id"] == fid:
                        f["released"].set()
                        return 200, self.fault_json(f)
                raise Answer(404, {"error": "no such fault"})
            if (method, path) == ("GET", "/_admin/state"):
                return 200, {"base_url": self.base,
                             "repos": [self.repo_state(r) for r in self.repos.values()],
                             "tokens": [dict(t) for t in self.tokens.values()],
                             "apps": [{k: v for k, v in a.items() if k != "pub"} for a in self.apps.values()],
                             "faults": [self.fault_json(f) for f in self.faults]}
            if path == "/_admin/requests":
                if method == "DELETE":
                    self.requests = []
                    return 200, []
                since = int(query.get("since", 0))
                return 200, [r for r in self.requests if r["seq"] > since]
        raise Answer(404, {"error": "no admin route %s %s" % (method, path)})

    def admin_check_runs(self, b):
        """Check runs on a ref of a GitHub repository: each {name, conclusion, app
        (slug, default github-actions), output {title, summary, text},
        annotations [...], log (text), log_status (an error status for the log)};
        "repeat": N makes N copies of the first, numbered."""
        repo = self.admin_repo(dict(b, forge="github"))
        runs = b.get("check_runs") if isinstance(b.get("check_runs"), list) else []
        if runs and int(b.get("repeat", 0)) > 1:
            runs = [dict(runs[0], name="%s %d" % (runs[0].get("name", "check"), i + 1))
                    for i in range(int(b["repeat"]))] + runs[1:]
        sha = self.branch_sha(repo, b.get("ref")) or b.get("ref") or ""
        suite = self.new_id()
        out = []
        for r in runs:
            cid = self.new_id()
            self.check_runs[cid] = {"id": cid, "repo": repo["path"], "ref": b.get("ref"),
                                    "head_sha": sha, "suite": suite, "run": r}
            out.append(self.gh_check_run(cid))
        return out

    def admin_pipeline(self, b):
        """A GitLab pipeline on ref: {repo, ref, status, jobs: [{name, stage,
        status, failure_reason, allow_failure, trace, trace_status}]}."""
        repo = self.admin_repo(dict(b, forge="gitlab"))
        pid = self.new_id()
        jobs = b.get("jobs") if isinstance(b.get("jobs"), list) else []
        p = {"id": pid, "iid": len(self.pipelines) + 1, "repo": repo["path"], "ref": b.get("ref"),
             "sha": self.branch_sha(repo, b.get("ref")) or "0" * 40,
             "status": b.get("status", "failed"), "jobs": []}
        self.pipelines[pid] = p
        for j in jobs:
            jid = self.new_id()
            self.gl_jobs[jid] = dict(j, id=jid, pipeline=pid)
            p["jobs"].append(jid)
        return self.gl_pipeline(p)

    def admin_repo(self, b):
        repo = self.repos.get((b.get("forge"), b.get("repo")))
        if not repo:
            raise Answer(404, {"error": "no repository %s:%s" % (b.get("forge"), b.get("repo"))})
        return repo

    def admin_app(self, b):
        app_id, pem = str(b.get("app_id", "")), b.get("public_key_pem", "")
        if not app_id or "PUBLIC KEY" not in pem or b.get("installation_id") is None:
            raise Answer(400, {"error": "need app_id, public_key_pem and installation_id"})
        pub = os.path.join(self.tmp, "app-%s.pem" % re.sub(r"[^A-Za-z0-9_.-]", "_", app_id))
        with open(pub, "w") as f:
            f.write(pem)
        app = {"app_id": app_id, "client_id": b.get("client_id"), "pub": pub,
               "installation_id": int(b["installation_id"]),
               "bot_login": b.get("bot_login") or "emulator-app[bot]",
               "name": b.get("name") or "Emulator App",
               "token_ttl": int(b.get("token_ttl", 3600))}
        self.apps[app_id] = app
        self.user_id("github", app["bot_login"])
        return {k: v for k, v in app.items() if k != "pub"}

    def admin_permission(self, b):
        repo, user = self.admin_repo(b), b.get("user")
        if not user:
            raise Answer(400, {"error": "need user"})
        if repo["forge"] == "github":
            role = b.get("permission")
            if role not in GH_ROLES:
                raise Answer(400, {"error": "permission: one of " + ", ".join(GH_ROLES)})
            self.user_id("github", user)
            repo["perms"][user] = role
            return {"repo": repo["path"], "user": user, "permission": role}
        uid = self.user_id("gitlab", user, b.get("user_id"))
        level = int(b.get("access_level", 30))
        if level <= 0:
            repo["members"].pop(uid, None)
        else:
            repo["members"][uid] = {"username": user, "access_level": level}
        return {"repo": repo["path"], "user": user, "user_id": uid, "access_level": level}

    def repo_state(self, repo):
        gh = repo["forge"] == "github"
        def thread_state(th):
            s = {k: v for k, v in th.items() if k != "comments"}
            s["comments" if gh else "notes"] = th["comments"]
            return s
        s = {"forge": repo["forge"], "path": repo["path"], "id": repo["id"],
             "default_branch": repo["default_branch"], "clone_url": self.clone_url(repo),
             "git_dir": repo["dir"], "branches": self.branches(repo),
             "issues": [thread_state(t) for t in repo["issues"].values()],
             "pulls" if gh else "merge_requests": [thread_state(t) for t in repo["pulls"].values()]}
        if gh:
            s["permissions"], s["review_comments"] = repo["perms"], repo["review_comments"]
        else:
            s["members"] = {str(k): v for k, v in repo["members"].items()}
        return s

    # --------------------------------------------------------------- GitHub

    def gh_user(self, login):
        return {"login": login, "id": self.user_id("github", login), "node_id": "U_%s" % login,
                "type": "Bot" if login.endswith("[bot]") else "User"}

    def gh_api(self, repo):
        return "%s/github/api/repos/%s" % (self.base, repo["path"])

    def gh_comment(self, repo, th, c):
        kind = "pull" if "head" in th else "issues"
        return {"id": c["id"], "node_id": "IC_%d" % c["id"], "body": c["body"],
                "user": self.gh_user(c["user"]), "created_at": c["created_at"],
                "updated_at": c["updated_at"],
                "url": "%s/issues/comments/%d" % (self.gh_api(repo), c["id"]),
                "issue_url": "%s/issues/%d" % (self.gh_api(repo), th["number"]),
                "html_url": "%s/%s/%d#issuecomment-%d" % (self.web_url(repo), kind, th["number"], c["id"])}

    def gh_issue(self, repo, th):
        j = {"id": th["id"], "number": th["number"], "title": th["title"],
             "body": th["body"], "state": th["state"], "user": self.gh_user(th["user"]),
             "labels": [{"name": n} for n in th.get("labels", [])], "comments": len(th["comments"]),
             "created_at": th["created_at"], "updated_at": th["updated_at"],
             "url": "%s/issues/%d" % (self.gh_api(repo), th["number"]),
             "html_url": "%s/issues/%d" % (self.web_url(repo), th["number"])}
        if "head" in th:
            j["pull_request"] = {"url": "%s/pulls/%d" % (self.gh_api(repo), th["number"])}
        return j

    def gh_pull(self, repo, pr):
        owner = repo["path"].split("/")[0]
        def side(ref):
            return {"ref": ref, "label": "%s:%s" % (owner, ref), "sha": self.branch_sha(repo, ref),
                    "repo": {"full_name": repo["path"], "clone_url": self.clone_url(repo)}}
        return {"id": pr["id"], "node_id": "PR_%d" % pr["id"], "number": pr["number"],
                "state": pr["state"], "title": pr["title"], "body": pr["body"], "draft": pr["draft"],
                "user": self.gh_user(pr["user"]), "head": side(pr["head"]), "base": side(pr["base"]),
                "merged": False, "created_at": pr["created_at"], "updated_at": pr["updated_at"],
                "url": "%s/pulls/%d" % (self.gh_api(repo), pr["number"]),
                "html_url": "%s/pull/%d" % (self.web_url(repo), pr["number"])}

    def gh_profile(self, login):
        """A user as GET /users/{username} shows one (public-user's required fields)."""
        u, p = self.gh_user(login), self.profiles.get(("github", login), {})
        api, web = "%s/github/api/users/%s" % (self.base, login), "%s/github/%s" % (self.base, login)
        u.update({"avatar_url": "%s/avatars/%d" % (self.base, u["id"]), "gravatar_id": "",
                  "url": api, "html_url": web, "followers_url": api + "/followers",
                  "following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
                  "starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions",
                  "organizations_url": api + "/orgs", "repos_url": api + "/repos",
                  "events_url": api + "/events{/privacy}", "received_events_url": api + "/received_events",
                  "site_admin": False, "name": p.get("name"), "company": None, "blog": "", "location": None,
                  "email": p.get("public_email"), "hireable": None, "bio": None, "public_repos": 0,
                  "public_gists": 0, "followers": 0, "following": 0,
                  "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"})
        return u

    def gh_get_user(self, q):
        if q.tok.get("installation"):
            raise gh_fail(403, "Resource not accessible by integration")
        u = self.gh_profile(q.tok["user"])
        u.update({"private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
                  "disk_usage": 0, "collaborators": 0, "two_factor_authentication": True})
        return 200, u

    def gh_get_users(self, q, name):
        login = urllib.parse.unquote(name)
        if login not in self.users["github"]:
            raise gh_fail(404, "Not Found")
        return 200, self.gh_profile(login)

    def gh_get_app(self, q):
        a = q.app
        slug = a["bot_login"][:-len("[bot]")] if a["bot_login"].endswith("[bot]") else a["bot_login"]
        return 200, {"id": int(a["app_id"]) if a["app_id"].isdigit() else 0, "slug": slug,
                     "client_id": a.get("client_id"), "node_id": "A_%s" % a["app_id"],
                     "owner": self.gh_user("emulator-org"), "name": a["name"], "description": "",
                     "external_url": self.base, "html_url": "%s/github/apps/%s" % (self.base, slug),
                     "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                     "permissions": {"contents": "write", "issues": "write",
                                     "pull_requests": "write", "metadata": "read"},
                     "events": ["issues", "issue_comment", "pull_request_review"]}

    def gh_get_repo(self, q):
        r = q.repo
        return 200, {"id": r["id"], "name": r["path"].split("/")[1], "full_name": r["path"],
                     "owner": self.gh_user(r["path"].split("/")[0]), "private": False,
                     "default_branch": r["default_branch"], "clone_url": self.clone_url(r),
                     "html_url": self.web_url(r), "url": self.gh_api(r)}

    def gh_permission(self, q, user):
        role = q.repo["perms"].get(user)
        if role is None and user == q.repo["path"].split("/")[0]:
            role = "admin"
        if role is None:
            raise gh_fail(404, "Not Found")
        return 200, {"permission": GH_ROLES[role], "role_name": role, "user": self.gh_user(user)}

    def gh_get_issue(self, q, n):
        th = self.thread(q.repo, "issues", n) or self.not_found(q)
        return 200, self.gh_issue(q.repo, th)

    def gh_list_comments(self, q, n):
        th = self.thread(q.repo, "issues", n) or self.not_found(q)
        items = [self.gh_comment(q.repo, th, c) for c in th["comments"]]
        page, p, per, pages = paginate(items, q.query, 30, 100)
        link = link_header("%s/issues/%s/comments" % (self.gh_api(q.repo), n), q.query, p, pages)
        return 200, page, ({"Link": link} if pages > 1 else {})

    def gh_create_comment(self, q, n):
        th = self.thread(q.repo, "issues", n) or self.not_found(q)
        body = q.field("body", str) or self.missing(q, "IssueComment", "body")
        return 201, self.gh_comment(q.repo, th, self.add_comment(q.repo, th, body, q.tok["user"]))

    def gh_edit_comment(self, q, cid):
        th, c = q.repo["comments"].get(int(cid)) or self.not_found(q)
        c["body"] = q.field("body", str) or self.missing(q, "IssueComment", "body")
        c["updated_at"] = iso()
        return 200, self.gh_comment(q.repo, th, c)

    def gh_delete_comment(self, q, cid):
        th, c = q.repo["comments"].get(int(cid)) or self.not_found(q)
        if c["user"] != q.tok["user"]:
            raise gh_fail(403, "Must have admin rights to Repository.")
        th["comments"].remove(c)
        del q.repo["comments"][int(cid)]
        return 204, None

    def gh_reaction(self, q, target):
        content = q.field("content", str)
        if content not in GH_REACTIONS:
            raise gh_invalid("Reaction", "content", "invalid" if content else "missing_field")
        created, r = self.react(target, q.tok["user"], content)
        return (201 if created else 200), {"id": r["id"], "node_id": "REA_%d" % r["id"],
                                           "user": self.gh_user(r["user"]), "content": r["content"],
                                           "created_at": r["created_at"]}

    def gh_react_issue(self, q, n):
        return self.gh_reaction(q, self.thread(q.repo, "issues", n) or self.not_found(q))

    def gh_react_comment(self, q, cid):
        return self.gh_reaction(q, (q.repo["comments"].get(int(cid)) or self.not_found(q))[1])

    def gh_react_review_comment(self, q, cid):
        c = next((c for c in q.repo["review_comments"] if c["id"] == int(cid)), None)
        return self.gh_reaction(q, c or self.not_found(q))

    def gh_list_pulls(self, q):
        state = q.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise gh_invalid("PullRequest", "state", "invalid")
        owner = q.repo["path"].split("/")[0]
        head = q.query.get("head")
        pulls = []
        for pr in q.repo["pulls"].values():
            if state != "all" and pr["state"] != state:
                continue
            # GitHub filters on "user:ref"; a head without the user is ignored.
            if head and ":" in head and head != "%s:%s" % (owner, pr["head"]):
                continue
            if q.query.get("base") and q.query["base"] != pr["base"]:
                continue
            pulls.append(self.gh_pull(q.repo, pr))
        page, p, per, pages = paginate(pulls, q.query, 30, 100)
        link = link_header("%s/pulls" % self.gh_api(q.repo), q.query, p, pages)
        return 200, page, ({"Link": link} if pages > 1 else {})

    def gh_get_pull(self, q, n):
        pr = q.repo["pulls"].get(int(n)) or self.not_found(q)
        return 200, self.gh_pull(q.repo, pr)

    def gh_create_pull(self, q):
        repo, owner = q.repo, q.repo["path"].split("/")[0]
        head = q.field("head", str) or self.missing(q, "PullRequest", "head")
        base = q.field("base", str) or self.missing(q, "PullRequest", "base")
        title = q.field("title", str) or self.missing(q, "PullRequest", "title")
        if ":" in head:
            who, head = head.split(":", 1)
            if who != owner:
                raise gh_invalid("PullRequest", "head", "invalid")
        if not self.branch_sha(repo, head):
            raise gh_invalid("PullRequest", "head", "invalid")
        if not self.branch_sha(repo, base):
            raise gh_invalid("PullRequest", "base", "invalid")
        ahead = git(["-C", repo["dir"], "rev-list", "--count", "refs/heads/%s..refs/heads/%s" % (base, head)])
        if int(ahead) == 0:
            raise gh_fail(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                          "message": "No commits between %s and %s" % (base, head)}])
        for pr in repo["pulls"].values():
            if pr["state"] == "open" and pr["head"] == head and pr["base"] == base:
                raise gh_fail(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                              "message": "A pull request already exists for %s:%s." % (owner, head)}])
        pr = {"number": self.next_number(repo, "pulls"), "id": self.new_id(), "title": title,
              "body": q.field("body", str) or "", "draft": bool(q.field("draft", bool)),
              "head": head, "base": base, "state": "open", "user": q.tok["user"],
              "created_at": iso(), "updated_at": iso(), "comments": [], "reactions": []}
        repo["pulls"][pr["number"]] = pr
        return 201, self.gh_pull(repo, pr)

    def gh_edit_pull(self, q, n):
        pr = q.repo["pulls"].get(int(n)) or self.not_found(q)
        for key in ("title", "body"):
            if q.field(key, str) is not None:
                pr[key] = q.body[key]
        state = q.field("state", str)
        if state is not None:
            if state not in ("open", "closed"):
                raise gh_invalid("PullRequest", "state", "invalid")
            pr["state"] = state
        base = q.field("base", str)
        if base is not None:
            if not self.branch_sha(q.repo, base):
                raise gh_invalid("PullRequest", "base", "invalid")
            pr["base"] = base
        pr["updated_at"] = iso()
        return 200, self.gh_pull(q.repo, pr)

    def gh_review_json(self, repo, c):
        return {"id": c["id"], "pull_request_review_id": c["review_id"], "path": c["path"],
                "line": c["line"], "side": "RIGHT", "diff_hunk": c["diff_hunk"], "body": c["body"],
                "user": self.gh_user(c["user"]), "in_reply_to_id": c["in_reply_to_id"],
                "created_at": c["created_at"], "updated_at": c["updated_at"],
                "html_url": "%s/pull/%d#discussion_r%d" % (self.web_url(repo), c["pull"], c["id"])}

    def gh_review_comments(self, q, n, rid):
        if int(n) not in q.repo["pulls"]:
            self.not_found(q)
        items = [self.gh_review_json(q.repo, c) for c in q.repo["review_comments"]
                 if c["pull"] == int(n) and c["review_id"] == int(rid)]
        return 200, paginate(items, q.query, 30, 100)[0]

    def gh_review_reply(self, q, n, cid):
        top = next((c for c in q.repo["review_comments"]
                    if c["id"] == int(cid) and c["pull"] == int(n)), None) or self.not_found(q)
        if top["in_reply_to_id"]:
            raise gh_invalid("PullRequestReviewComment", "in_reply_to", "invalid")
        body = q.field("body", str) or self.missing(q, "PullRequestReviewComment", "body")
        c = dict(top, id=self.new_id(), review_id=self.new_id(), body=body, user=q.tok["user"],
                 in_reply_to_id=top["id"], created_at=iso(), updated_at=iso())
        q.repo["review_comments"].append(c)
        return 201, self.gh_review_json(q.repo, c)

    def gh_check_run(self, cid):
        c = self.check_runs[cid]
        r = c["run"]
        api = "%s/github/api/repos/%s" % (self.base, c["repo"])
        slug = r.get("app", "github-actions")
        output = r.get("output") or {}
        return {"id": cid, "head_sha": c["head_sha"], "node_id": "CR_%d" % cid,
                "external_id": str(cid), "url": "%s/check-runs/%d" % (api, cid),
                "html_url": "%s/github/%s/actions/runs/%d/job/%d" % (self.base, c["repo"], c["suite"], cid),
                "details_url": "%s/github/%s/actions/runs/%d/job/%d" % (self.base, c["repo"], c["suite"], cid),
                "status": "completed", "conclusion": r.get("conclusion", "failure"),
                "started_at": iso(), "completed_at": iso(), "name": r.get("name", "build"),
                "output": {"title": output.get("title"), "summary": output.get("summary"),
                           "text": output.get("text"),
                           "annotations_count": len(r.get("annotations") or []),
                           "annotations_url": "%s/check-runs/%d/annotations" % (api, cid)},
                "check_suite": {"id": c["suite"]},
                "app": {"id": 15368 if slug == "github-actions" else 1, "slug": slug,
                        "node_id": "MDM6QXBwMTUzNjg=", "name": "GitHub Actions" if slug == "github-actions" else slug,
                        "owner": self.gh_user("github")},
                "pull_requests": []}

    def gh_list_check_runs(self, q, ref):
        ref = urllib.parse.unquote(ref)
        sha = self.branch_sha(q.repo, ref)
        runs = [self.gh_check_run(cid) for cid, c in self.check_runs.items()
                if c["repo"] == q.repo["path"] and (c["ref"] == ref or (sha and c["head_sha"] == sha)
                                                    or c["head_sha"] == ref)]
        page, p, per, pages = paginate(runs, q.query, 30, 100)
        return 200, {"total_count": len(runs), "check_runs": page}

    def gh_suite_check_runs(self, q, suite):
        runs = [self.gh_check_run(cid) for cid, c in self.check_runs.items()
                if c["repo"] == q.repo["path"] and c["suite"] == int(suite)]
        page, p, per, pages = paginate(runs, q.query, 30, 100)
        return 200, {"total_count": len(runs), "check_runs": page}

    def gh_check_run_of(self, q, cid):
        c = self.check_runs.get(int(cid))
        if not c or c["repo"] != q.repo["path"]:
            raise gh_fail(404, "Not Found")
        return c

    def gh_annotations(self, q, cid):
        c = self.gh_check_run_of(q, cid)
        items = [{"path": a.get("path", "README.md"), "start_line": a.get("start_line", 1),
                  "end_line": a.get("end_line", a.get("start_line", 1)),
                  "start_column": a.get("start_column"), "end_column": a.get("end_column"),
                  "annotation_level": a.get("annotation_level", "failure"),
                  "title": a.get("title", ""), "message": a.get("message", ""),
                  "raw_details": a.get("raw_details", ""),
                  "blob_href": "%s/github/%s/blob/%s/%s" % (self.base, c["repo"], c["head_sha"], a.get("path", "README.md"))}
                 for a in c["run"].get("annotations") or []]
        page, p, per, pages = paginate(items, q.query, 30, 100)
        link = link_header("%s/check-runs/%s/annotations" % (self.gh_api(q.repo), cid), q.query, p, pages)
        return 200, page, ({"Link": link} if pages > 1 else {})

    def gh_job_logs(self, q, jid):
        c = self.gh_check_run_of(q, jid)
        status = c["run"].get("log_status")
        if status:
            raise gh_fail(int(status), "Not Found" if int(status) == 404 else "Error")
        sig = "%032x" % self.rng.getrandbits(128)
        return 302, b"", {"Location": "%s/logs/%d?sig=%s" % (self.blob_base, c["id"], sig)}

    def blob_log(self, cid):
        c = self.check_runs.get(cid)
        return None if c is None else (c["run"].get("log") or "").encode("utf-8", "surrogateescape")

    def gh_access_token(self, q, inst):
        app = q.app
        if app["installation_id"] != int(inst):
            raise gh_fail(404, "Not Found")
        value = "ghs_" + "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                 for _ in range(36))
        expires = int(time.time()) + app["token_ttl"]
        self.tokens[("github", value)] = {"forge": "github", "token": value, "user": app["bot_login"],
                                          "user_id": self.user_id("github", app["bot_login"]),
                                          "can_write": True, "expires": expires, "installation": True}
        return 201, {"token": value, "expires_at": iso(expires), "repository_selection": "all",
                     "permissions": {"contents": "write", "issues": "write",
                                     "pull_requests": "write", "metadata": "read"}}

    def verify_jwt(self, jwt):
        """The app a JWT was signed for, or a 401 like GitHub's."""
        try:
            h64, p64, s64 = jwt.split(".")
            header, claims = json.loads(b64url_decode(h64)), json.loads(b64url_decode(p64))
            sig = b64url_decode(s64)
        except Exception:
            raise gh_fail(401, "A JSON web token could not be decoded")
        if header.get("alg") != "RS256":
            raise gh_fail(401, "A JSON web token could not be decoded")
        iss = str(claims.get("iss", ""))
        app = self.apps.get(iss) or next((a for a in self.apps.values() if a["client_id"] == iss), None)
        if not app:
            raise gh_fail(401, "'Issuer' claim ('iss') must be an Integer")
        base = os.path.join(self.tmp, "jwt-%d-%d" % (os.getpid(), threading.get_ident()))
        with open(base + ".in", "wb") as f:
            f.write(("%s.%s" % (h64, p64)).encode())
        with open(base + ".sig", "wb") as f:
            f.write(sig)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", app["pub"], "-signature",
                            base + ".sig", base + ".in"], capture_output=True)
        for ext in (".in", ".sig"):
            os.unlink(base + ext)
        if r.returncode != 0:
            raise gh_fail(401, "A JSON web token could not be decoded")
        now, iat, exp = time.time(), claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or iat > now + 60:
            raise gh_fail(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past")
        if not isinstance(exp, int) or exp <= now:
            raise gh_fail(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
        if exp > now + 600 + 30:
            raise gh_fail(401, "'Expiration time' claim ('exp') is too far in the future")
        return app

    # --------------------------------------------------------------- GitLab

    def gl_user(self, login):
        return {"id": self.user_id("gitlab", login), "username": login, "name": login,
                "state": "active", "web_url": "%s/gitlab/%s" % (self.base, login)}

    def gl_note(self, repo, th, c):
        kind = "MergeRequest" if "head" in th else "Issue"
        return {"id": c["id"], "type": None, "body": c["body"], "author": self.gl_user(c["user"]),
                "created_at": c["created_at"], "updated_at": c["updated_at"], "system": False,
                "noteable_id": th["id"], "noteable_type": kind, "noteable_iid": th["number"],
                "resolvable": False, "project_id": repo["id"]}

    def gl_note_in(self, repo, th, c):
        """A note as a discussion lists it: with its position on the diff."""
        n = self.gl_note(repo, th, c)
        if c.get("position"):
            n["type"] = "DiffNote"
            n["position"] = dict({"position_type": "text", "old_path": None, "new_path": None,
                                  "old_line": None, "new_line": None}, **c["position"])
        return n

    def gl_discussion(self, q, iid, did):
        th = self.gl_thread(q, "merge_requests", iid)
        notes = [c for c in th["comments"] if c.get("discussion_id", "d%d" % c["id"]) == did]
        if not notes:
            raise gl_fail(404, "404 Discussion Not Found")
        return 200, {"id": did, "individual_note": len(notes) == 1 and "position" not in notes[0],
                     "notes": [self.gl_note_in(q.repo, th, c) for c in notes]}

    def gl_issue(self, repo, th):
        return {"id": th["id"], "iid": th["number"], "project_id": repo["id"], "title": th["title"],
                "description": th["body"], "state": th["state"], "author": self.gl_user(th["user"]),
                "labels": th.get("labels", []), "user_notes_count": len(th["comments"]),
                "created_at": th["created_at"], "updated_at": th["updated_at"],
                "web_url": "%s/-/issues/%d" % (self.web_url(repo), th["number"])}

    def gl_mr(self, repo, mr):
        return {"id": mr["id"], "iid": mr["number"], "project_id": repo["id"], "title": mr["title"],
                "description": mr["body"], "state": mr["state"], "draft": mr["draft"],
                "work_in_progress": mr["draft"], "source_branch": mr["head"],
                "target_branch": mr["base"], "source_project_id": repo["id"],
                "target_project_id": repo["id"], "author": self.gl_user(mr["user"]),
                "sha": self.branch_sha(repo, mr["head"]), "user_notes_count": len(mr["comments"]),
                "created_at": mr["created_at"], "updated_at": mr["updated_at"],
                "web_url": "%s/-/merge_requests/%d" % (self.web_url(repo), mr["number"])}

    def gl_thread(self, q, kind, iid):
        th = self.thread(q.repo, kind, iid)
        if not th:
            raise gl_fail(404, "404 %s Not Found" % ("Issue" if kind == "issues" else "Merge Request"))
        th.setdefault("id", self.new_id())
        return th

    def gl_get_user(self, q):
        """The token's own user: GitLab shows it its addresses (email and
        commit_email only to itself or an admin; public_email "" when unset)."""
        login = q.tok["user"]
        u, p = self.gl_user(login), self.profiles.get(("gitlab", login), {})
        email = p.get("email")
        u.update({"name": p.get("name") or login, "bot": login.endswith("_bot") or "_bot_" in login,
                  "avatar_url": None, "created_at": "2024-01-01T00:00:00.000Z",
                  "public_email": p.get("public_email", ""), "email": email,
                  "commit_email": p.get("commit_email", email)})
        return 200, u

    def gl_get_project(self, q):
        r = q.repo
        return 200, {"id": r["id"], "path": r["path"].split("/")[-1], "path_with_namespace": r["path"],
                     "default_branch": r["default_branch"], "http_url_to_repo": self.clone_url(r),
                     "web_url": self.web_url(r)}

    def gl_member(self, q, uid):
        m = q.repo["members"].get(int(uid))
        if not m:
            raise gl_fail(404, "404 Not found")
        return 200, dict(self.gl_user(m["username"]), id=int(uid), access_level=m["access_level"])

    def gl_award(self, q, target, kind):
        name = q.field("name", str)
        if not name:
            raise Answer(400, {"error": "name is missing"})
        created, r = self.react(target, q.tok["user"], name)
        if not created:
            raise gl_fail(404, "404 Award Emoji Name has already been taken Not Found")
        return 201, {"id": r["id"], "name": name, "user": self.gl_user(r["user"]),
                     "created_at": r["created_at"], "updated_at": r["created_at"],
                     "awardable_id": target.get("id"), "awardable_type": kind}

    def gl_award_thread(self, q, kind, iid):
        th = self.gl_thread(q, kind, iid)
        return self.gl_award(q, th, "Issue" if kind == "issues" else "MergeRequest")

    def gl_award_note(self, q, kind, iid, nid):
        th = self.gl_thread(q, kind, iid)
        c = next((c for c in th["comments"] if c["id"] == int(nid)), None)
        if not c:
            raise gl_fail(404, "404 Note Not Found")
        return self.gl_award(q, c, "Note")

    def gl_get_issue(self, q, iid):
        return 200, self.gl_issue(q.repo, self.gl_thread(q, "issues", iid))

    def gl_list_notes(self, q, kind, iid):
        th = self.gl_thread(q, kind, iid)
        notes = [self.gl_note(q.repo, th, c) for c in th["comments"]]
        if q.query.get("sort", "desc") == "desc":
            notes.reverse()
        return self.gl_page(q, notes)

    def gl_page(self, q, items):
        page, p, per, pages = paginate(items, q.query, 20, 100)
        h = {"X-Total": str(len(items)), "X-Total-Pages": str(pages), "X-Per-Page": str(per),
             "X-Page": str(p), "X-Next-Page": str(p + 1) if p < pages else "",
             "X-Prev-Page": str(p - 1) if p > 1 else ""}
        if pages > 1:
            h["Link"] = link_header(self.base + q.path, q.query, p, pages)
        return 200, page, h

    def gl_pipeline(self, p):
        return {"id": p["id"], "iid": p["iid"], "project_id": self.repos[("gitlab", p["repo"])]["id"],
                "sha": p["sha"], "ref": p["ref"], "status": p["status"], "source": "push",
                "created_at": iso(), "updated_at": iso(),
                "web_url": "%s/gitlab/%s/-/pipelines/%d" % (self.base, p["repo"], p["id"])}

    def gl_list_pipelines(self, q):
        ps = [p for p in self.pipelines.values() if p["repo"] == q.repo["path"]
              and (q.query.get("ref") is None or p["ref"] == q.query["ref"])]
        ps.sort(key=lambda p: p["id"], reverse=q.query.get("sort", "desc") == "desc")
        return self.gl_page(q, [self.gl_pipeline(p) for p in ps])

    def gl_job(self, j):
        p = self.pipelines[j["pipeline"]]
        return {"id": j["id"], "name": j.get("name", "build"), "stage": j.get("stage", "test"),
                "status": j.get("status", "failed"), "failure_reason": j.get("failure_reason", "script_failure"),
                "allow_failure": bool(j.get("allow_failure", False)), "ref": p["ref"],
                "created_at": iso(), "started_at": iso(), "finished_at": iso(), "duration": 1.5,
                "pipeline": {"id": p["id"], "project_id": self.repos[("gitlab", p["repo"])]["id"],
                             "ref": p["ref"], "sha": p["sha"], "status": p["status"]},
                "web_url": "%s/gitlab/%s/-/jobs/%d" % (self.base, p["repo"], j["id"]),
                "user": self.gl_user("root")}

    def gl_pipeline_jobs(self, q, pid):
        p = self.pipelines.get(int(pid))
        if not p or p["repo"] != q.repo["path"]:
            raise gl_fail(404, "404 Not found")
        jobs = [self.gl_jobs[j] for j in p["jobs"]]
        if q.query.get("scope[]") or q.query.get("scope"):
            scopes = {q.query.get("scope[]"), q.query.get("scope")}
            jobs = [j for j in jobs if j.get("status", "failed") in scopes]
        return self.gl_page(q, [self.gl_job(j) for j in jobs])

    def gl_trace(self, q, jid):
        j = self.gl_jobs.get(int(jid))
        if not j or self.pipelines[j["pipeline"]]["repo"] != q.repo["path"]:
            raise gl_fail(404, "404 Not found")
        if j.get("trace_status"):
            raise gl_fail(int(j["trace_status"]), "%s Not found" % j["trace_status"])
        return 200, (j.get("trace") or "").encode("utf-8", "surrogateescape")

    def gl_create_note(self, q, kind, iid):
        th = self.gl_thread(q, kind, iid)
        body = q.field("body", str)
        if not body:
            raise Answer(400, {"error": "body is missing"})
        return 201, self.gl_note(q.repo, th, self.add_comment(q.repo, th, body, q.tok["user"]))

    def gl_own_note(self, q, kind, iid, nid):
        """(thread, note) of a note the token's user wrote, else 404 or 403."""
        th = self.gl_thread(q, kind, iid)
        c = next((c for c in th["comments"] if c["id"] == int(nid)), None)
        if not c:
            raise gl_fail(404, "404 Note Not Found")
        if c["user"] != q.tok["user"]:
            raise gl_fail(403, "403 Forbidden")
        return th, c

    def gl_delete_note(self, q, kind, iid, nid):
        th, c = self.gl_own_note(q, kind, iid, nid)
        th["comments"].remove(c)
        q.repo["comments"].pop(c["id"], None)
        return 204, None

    def gl_edit_note(self, q, kind, iid, nid):
        th, c = self.gl_own_note(q, kind, iid, nid)
        body = q.field("body", str)
        if not body:
            raise Answer(400, {"error": "body is missing"})
        c["body"], c["updated_at"] = body, iso()
        return 200, self.gl_note(q.repo, th, c)

    def gl_list_mrs(self, q):
        state = q.query.get("state", "all")
        mrs = [self.gl_mr(q.repo, mr) for mr in reversed(list(q.repo["pulls"].values()))
               if (state == "all" or mr["state"] == state)
               and q.query.get("source_branch", mr["head"]) == mr["head"]
               and q.query.get("target_branch", mr["base"]) == mr["base"]]
        return self.gl_page(q, mrs)

    def gl_get_mr(self, q, iid):
        return 200, self.gl_mr(q.repo, self.gl_thread(q, "merge_requests", iid))

    @staticmethod
    def gl_is_draft(title):
        return bool(re.match(r"\s*(\[draft\]|\(draft\)|draft:|draft -)", title, re.I))

    def gl_create_mr(self, q):
        missing = [k for k in ("source_branch", "target_branch", "title") if not q.field(k, str)]
        if missing:
            raise Answer(400, {"error": ", ".join("%s is missing" % k for k in missing)})
        src, dst, title = q.body["source_branch"], q.body["target_branch"], q.body["title"]
        repo = q.repo
        if src == dst:
            raise gl_fail(422, ["You can't use same project/branch for source and target"])
        for what, b in (("Source", src), ("Target", dst)):
            if not self.branch_sha(repo, b):
                raise gl_fail(422, ['%s branch "%s" does not exist' % (what, b)])
        for mr in repo["pulls"].values():
            if mr["state"] == "opened" and mr["head"] == src and mr["base"] == dst:
                raise gl_fail(409, ["Another open merge request already exists for this source branch: !%d"
                                    % mr["number"]])
        mr = {"number": self.next_number(repo, "merge_requests"), "id": self.new_id(), "title": title,
              "body": q.field("description", str) or "", "draft": self.gl_is_draft(title),
              "head": src, "base": dst, "state": "opened", "user": q.tok["user"],
              "created_at": iso(), "updated_at": iso(), "comments": [], "reactions": []}
        repo["pulls"][mr["number"]] = mr
        return 201, self.gl_mr(repo, mr)

    def gl_edit_mr(self, q, iid):
        mr = self.gl_thread(q, "merge_requests", iid)
        if q.field("title", str):
            mr["title"] = q.body["title"]
            mr["draft"] = self.gl_is_draft(mr["title"])
        if q.field("description", str) is not None:
            mr["body"] = q.body["description"]
        if q.field("target_branch", str):
            if not self.branch_sha(q.repo, q.body["target_branch"]):
                raise gl_fail(422, ['Target branch "%s" does not exist' % q.body["target_branch"]])
            mr["base"] = q.body["target_branch"]
        event = q.field("state_event", str)
        if event in ("close", "reopen"):
            mr["state"] = "closed" if event == "close" else "opened"
        elif event is not None:
            raise Answer(400, {"error": "state_event does not have a valid value"})
        mr["updated_at"] = iso()
        return 200, self.gl_mr(q.repo, mr)

    def not_found(self, q):
        raise gh_fail(404, "Not Found") if q.forge == "github" else gl_fail(404, "404 Not Found")

    def missing(self, q, resource, field):
        raise gh_invalid(resource, field)


# The routes: (method, regex on the path after the forge's API prefix, handler, access).
# access: "read" any valid token, "write" a token that may write the repo,
# "jwt" a GitHub App JWT, "user" a valid token and no repository.
R = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
GITHUB_ROUTES = [
    ("GET", r"/user", Emulator.gh_get_user, "user"),
    ("GET", r"/users/([^/]+)", Emulator.gh_get_users, "user"),
    ("GET", r"/app", Emulator.gh_get_app, "jwt"),
    ("POST", r"/app/installations/(\d+)/access_tokens", Emulator.gh_access_token, "jwt"),
    ("GET", R, Emulator.gh_get_repo, "read"),
    ("GET", R + r"/collaborators/([^/]+)/permission", Emulator.gh_permission, "read"),
    ("GET", R + r"/issues/(\d+)", Emulator.gh_get_issue, "read"),
    ("GET", R + r"/issues/(\d+)/comments", Emulator.gh_list_comments, "read"),
    ("POST", R + r"/issues/(\d+)/comments", Emulator.gh_create_comment, "write"),
    ("PATCH", R + r"/issues/comments/(\d+)", Emulator.gh_edit_comment, "write"),
    ("DELETE", R + r"/issues/comments/(\d+)", Emulator.gh_delete_comment, "write"),
    ("POST", R + r"/issues/(\d+)/reactions", Emulator.gh_react_issue, "write"),
    ("POST", R + r"/issues/comments/(\d+)/reactions", Emulator.gh_react_comment, "write"),
    ("POST", R + r"/pulls/comments/(\d+)/reactions", Emulator.gh_react_review_comment, "write"),
    ("GET", R + r"/pulls", Emulator.gh_list_pulls, "read"),
    ("POST", R + r"/pulls", Emulator.gh_create_pull, "write"),
    ("GET", R + r"/pulls/(\d+)", Emulator.gh_get_pull, "read"),
    ("PATCH", R + r"/pulls/(\d+)", Emulator.gh_edit_pull, "write"),
    ("GET", R + r"/pulls/(\d+)/reviews/(\d+)/comments", Emulator.gh_review_comments, "read"),
    ("POST", R + r"/pulls/(\d+)/comments/(\d+)/replies", Emulator.gh_review_reply, "write"),
    ("GET", R + r"/commits/([^/]+)/check-runs", Emulator.gh_list_check_runs, "read"),
    ("GET", R + r"/check-suites/(\d+)/check-runs", Emulator.gh_suite_check_runs, "read"),
    ("GET", R + r"/check-runs/(\d+)/annotations", Emulator.gh_annotations, "read"),
    ("GET", R + r"/actions/jobs/(\d+)/logs", Emulator.gh_job_logs, "read"),
]
P = r"/projects/(?P<project>[^/]+)"
K = r"(issues|merge_requests)"
GITLAB_ROUTES = [
    ("GET", r"/user", Emulator.gl_get_user, "user"),
    ("GET", P, Emulator.gl_get_project, "read"),
    ("GET", P + r"/members/all/(\d+)", Emulator.gl_member, "read"),
    ("GET", P + r"/issues/(\d+)", Emulator.gl_get_issue, "read"),
    ("POST", P + "/" + K + r"/(\d+)/award_emoji", Emulator.gl_award_thread, "write"),
    ("POST", P + "/" + K + r"/(\d+)/notes/(\d+)/award_emoji", Emulator.gl_award_note, "write"),
    ("GET", P + "/" + K + r"/(\d+)/notes", Emulator.gl_list_notes, "read"),
    ("POST", P + "/" + K + r"/(\d+)/notes", Emulator.gl_create_note, "write"),
    ("PUT", P + "/" + K + r"/(\d+)/notes/(\d+)", Emulator.gl_edit_note, "write"),
    ("DELETE", P + "/" + K + r"/(\d+)/notes/(\d+)", Emulator.gl_delete_note, "write"),
    ("GET", P + r"/merge_requests/(\d+)/discussions/([0-9A-Za-z]+)", Emulator.gl_discussion, "read"),
    ("GET", P + r"/merge_requests", Emulator.gl_list_mrs, "read"),
    ("POST", P + r"/merge_requests", Emulator.gl_create_mr, "write"),
    ("GET", P + r"/merge_requests/(\d+)", Emulator.gl_get_mr, "read"),
    ("PUT", P + r"/merge_requests/(\d+)", Emulator.gl_edit_mr, "write"),
    ("GET", P + r"/pipelines", Emulator.gl_list_pipelines, "read"),
    ("GET", P + r"/pipelines/(\d+)/jobs", Emulator.gl_pipeline_jobs, "read"),
    ("GET", P + r"/jobs/(\d+)/trace", Emulator.gl_trace, "read"),
]
GIT_ROUTE = re.compile(r"^/(?:github/git|gitlab)/(?P<repo>.+?)(?:\.git)?"
                       r"/(?P<rest>info/refs|git-upload-pack|git-receive-pack)$")


class Call:
    """One REST request as the handlers see it."""

    def __init__(self, forge, method, path, query, body):
        self.forge, self.method, self.path, self.query = forge, method, path, query
        self.body = body if isinstance(body, dict) else {}
        self.tok = self.repo = self.app = self.rate = None

    def tok_or_app(self):
        return (self.tok or {}).get("token") or (self.app or {}).get("app_id")

    def field(self, key, typ):
        """body[key] (GitLab: or the query), None when absent or of another type."""
        v = self.body.get(key, self.query.get(key) if self.forge == "gitlab" else None)
        if typ is bool and isinstance(v, str):
            v = v.lower() in ("1", "true")
        return v if isinstance(v, typ) else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "forge-emulator/1"

    def log_message(self, fmt, *args):     # one line per request, from handle_any
        pass

    def do_GET(self):
        self.handle_any()
    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- plumbing

    def body_chunks(self):
        """The request body, chunked or not, as it arrives."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                while size:
                    data = self.rfile.read(min(size, 65536))
                    if not data:
                        raise ConnectionError("body cut short")
                    size -= len(data)
                    yield data
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            data = self.rfile.read(min(n, 65536))
            if not data:
                raise ConnectionError("body cut short")
            n -= len(data)
            yield data

    def drain(self):
        try:
            for _ in self.body_chunks():
                pass
        except (ConnectionError, ValueError):
            self.close_connection = True

    def read_body(self):
        parts, size = [], 0
        for chunk in self.body_chunks():
            size += len(chunk)
            if size > MAX_BODY:
                self.close_connection = True
                raise Answer(413, {"message": "body too large"})
            parts.append(chunk)
        return b"".join(parts)

    def send(self, status, obj, headers=None):
        data = obj if isinstance(obj, bytes) else (json.dumps(obj) + "\n").encode()
        if status == 204:
            data = b""      # no content, not even JSON's null
        self.status = status
        self.send_response(status)
        ctype = "application/json; charset=utf-8" if not isinstance(obj, bytes) else "text/plain"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            # Say so: an HTTP/1.1 client otherwise reuses the connection
            # (libgit2 does, for its authenticated retry after a 401).
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def record(self, path, rawq):
        emu = self.server.emu
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            if k == "authorization":
                v = (v.split(" ", 1)[0] + " <redacted>") if " " in v else "<redacted>"
            elif k == "private-token":
                v = "<redacted>"
            headers[k] = v
        with emu.lock:
            entry = {"seq": len(emu.requests) + 1, "time": iso(), "epoch": time.time(), "method": self.command,
                     "path": path, "query": rawq, "headers": headers, "body": None,
                     "status": None, "fault": None}
            emu.requests.append(entry)
        return entry

    # ---- one request

    def handle_any(self):
        emu = self.server.emu
        started = time.time()
        split = urllib.parse.urlsplit(self.path)
        path, rawq = split.path, split.query
        query = dict(urllib.parse.parse_qsl(rawq, keep_blank_values=True))
        self.status, entry, fault = None, None, None
        try:
            if path.startswith("/_admin/"):
                body = self.read_body()
                try:
                    parsed = json.loads(body) if body.strip() else None
                except ValueError:
                    raise Answer(400, {"error": "body is not JSON"})
                self.send(*emu.admin(self.command, path, query, parsed))
                return
            g = GIT_ROUTE.match(path)
            entry = self.record(path, rawq)
            fault = emu.pick_fault(self.command, path)
            if g:
                self.serve_git(g, path, rawq, query, fault)
                return
            body = self.read_body()
            if body:
                entry.update(self.record_body(body))
            if fault and fault["kind"] not in ("slow", "hold"):
                self.answer_fault(fault, path)
                return
            if fault:
                emu.delay(fault)
            self.send(*self.rest(path, query, body))
        except Answer as a:
            self.send(a.status, a.body, a.headers)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as e:          # a bug here: say so, keep serving
            import traceback
            traceback.print_exc()
            self.send(500, {"message": "emulator error: %s" % e})
        finally:
            if entry is not None:
                with emu.lock:
                    entry["status"] = self.status
                    entry["fault"] = fault["kind"] if fault else None
            sys.stderr.write('%s "%s %s" %s%s %dms\n' % (
                self.client_address[0], self.command, self.path, self.status or "-",
                " fault=" + fault["kind"] if fault else "", (time.time() - started) * 1000))
            sys.stderr.flush()

    def record_body(self, body):
        try:
            return {"body": json.loads(body)}
        except ValueError:
            return {"body": body.decode("utf-8", "replace")[:4096]}

    def answer_fault(self, f, path):
        kind, gh = f["kind"], path.startswith("/github/")
        if kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        headers = {}
        if kind in ("500", "502"):
            msg = "Server Error" if kind == "500" else "Bad Gateway"
            body = {"message": msg if gh else "%s %s" % (kind, msg)}
        elif kind == "429":
            body = {"message": "API rate limit exceeded" if gh else "Retry later"}
            if f["retry_after"] is not None:
                headers["Retry-After"] = f["retry_after"]
            reset = int(time.time()) + int(f["retry_after"] or 60)
            if gh:
                headers.update({"x-ratelimit-limit": GH_RATE_LIMIT, "x-ratelimit-remaining": 0,
                                "x-ratelimit-used": GH_RATE_LIMIT, "x-ratelimit-reset": reset,
                                "x-ratelimit-resource": "core"})
            else:
                headers.update({"RateLimit-Limit": GL_RATE_LIMIT, "RateLimit-Remaining": 0,
                                "RateLimit-Reset": reset})
        else:   # 403-secondary
            body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again. If you reach out to GitHub Support for help, please "
                    "include the request ID EMULATOR.",
                    "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"}
            if f["retry_after"] is not None:
                headers["retry-after"] = f["retry_after"]
        self.send(int(kind[:3]), body, headers)

    # ---- REST

    def rest(self, path, query, raw):
        emu = self.server.emu
        for forge, prefix, routes in (("github", "/github/api", GITHUB_ROUTES),
                                      ("gitlab", "/gitlab/api/v4", GITLAB_ROUTES)):
            if path == prefix or path.startswith(prefix + "/"):
                break
        else:
            raise Answer(404, {"message": "Not Found"})
        gh = forge == "github"
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            ctype = self.headers.get("Content-Type", "")
            if not gh and "x-www-form-urlencoded" in ctype:
                body = dict(urllib.parse.parse_qsl(raw.decode()))
            else:
                raise gh_fail(400, "Problems parsing JSON") if gh else Answer(400, {"error": "invalid JSON"})
        q = Call(forge, self.command, path, query, body)
        try:
            return self.route(q, routes, path[len(prefix):])
        except Answer as a:
            with emu.lock:
                a.headers = dict(q.rate or self.rate_headers(q), **a.headers)
            raise

    def route(self, q, routes, rel):
        emu, gh = self.server.emu, q.forge == "github"
        if gh:
            self.github_checks()
        with emu.lock:
            for method, rx, handler, access in routes:
                m = re.fullmatch(rx, rel)
                if not m or method != self.command:
                    continue
                self.authenticate(q, access)
                q.rate = self.rate_headers(q)
                groups = m.groups()
                if "owner" in m.groupdict():
                    q.repo = emu.repos.get(("github", "%s/%s" % (m["owner"], m["name"])))
                    groups = groups[2:]
                elif "project" in m.groupdict():
                    pid = urllib.parse.unquote(m["project"])
                    q.repo = (emu.projects.get(int(pid)) if pid.isdigit()
                              else emu.repos.get(("gitlab", pid)))
                    groups = groups[1:]
                if access in ("read", "write") and not q.repo:
                    raise (gh_fail(404, "Not Found") if gh else gl_fail(404, "404 Project Not Found"))
                if access == "write" and not emu.can_write(q.repo, q.tok):
                    raise (gh_fail(403, "Resource not accessible by integration") if gh
                           else gl_fail(403, "403 Forbidden"))
                out = handler(emu, q, *groups)
                status, obj, hdrs = out if len(out) == 3 else (*out, {})
                return status, obj, dict(q.rate, **hdrs)
        raise gh_fail(404, "Not Found") if gh else gl_fail(404, "404 Not Found")

    def github_checks(self):
        h = self.headers
        if not h.get("User-Agent"):
            raise Answer(403, {"message": "Request forbidden by administrative rules. Please make sure "
                                          "your request has a User-Agent header."})
        versions = h.get_all("X-GitHub-Api-Version") or []
        for version in versions:
            if version not in GH_VERSIONS:
                raise gh_fail(400, "Invalid API version provided: %s" % version)
        version = versions[0] if versions else None
        if self.server.strict:
            if version is None:
                raise gh_fail(400, "forge-emulator: X-GitHub-Api-Version is missing "
                                   "(GitHub would assume 2022-11-28; run with --lenient)")
            if "application/vnd.github+json" not in h.get("Accept", ""):
                raise gh_fail(400, "forge-emulator: Accept: application/vnd.github+json is missing "
                                   "(GitHub would accept this; run with --lenient)")

    def authenticate(self, q, access):
        emu, h = self.server.emu, self.headers
        auth = h.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if access == "jwt":
            if scheme.lower() != "bearer" or value.count(".") != 2:
                raise gh_fail(401, "A JSON web token could not be decoded")
            q.app = emu.verify_jwt(value.strip())
            return
        if q.forge == "github":
            q.tok = emu.token("github", value.strip()) if scheme.lower() in ("bearer", "token") else None
            if not q.tok:
                raise gh_fail(401, "Bad credentials")
        else:
            value = h.get("PRIVATE-TOKEN") or (value if scheme.lower() == "bearer" else "")
            q.tok = emu.token("gitlab", value.strip())
            if not q.tok:
                raise gl_fail(401, "401 Unauthorized")

    def rate_headers(self, q):
        emu, now = self.server.emu, int(time.time())
        if now >= emu.window:
            emu.window, emu.rate_used = now // 3600 * 3600 + 3600, {}
        key = ((q.tok or {}).get("token") or (q.app or {}).get("app_id")
               or "anonymous:" + self.client_address[0])
        used = emu.rate_used[key] = emu.rate_used.get(key, 0) + 1
        if q.forge == "github":
            limit = GH_RATE_LIMIT if key == q.tok_or_app() else 60
            return {"x-ratelimit-limit": limit, "x-ratelimit-remaining": max(0, limit - used),
                    "x-ratelimit-used": used, "x-ratelimit-reset": emu.window,
                    "x-ratelimit-resource": "core"}
        return {"RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": GL_RATE_LIMIT,
                "RateLimit-Observed": used, "RateLimit-Remaining": max(0, GL_RATE_LIMIT - used),
                "RateLimit-Reset": emu.window,
                "RateLimit-ResetTime": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(emu.window))}

    # ---- git smart HTTP, through git http-backend

    def serve_git(self, g, path, rawq, query, fault):
        emu = self.server.emu
        forge = "github" if path.startswith("/github/") else "gitlab"
        service = query.get("service") if g["rest"] == "info/refs" else g["rest"]
        if fault and fault["kind"] not in ("slow", "hold"):
            self.drain()
            self.answer_fault(fault, path)
            return
        if fault:
            emu.delay(fault)
        with emu.lock:
            repo = emu.repos.get((forge, g["repo"]))
            user, tok = None, None
            scheme, _, value = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "basic":
                try:
                    user, _, password = base64.b64decode(value.strip()).decode().partition(":")
                except Exception:
                    user, password = None, ""
                tok = emu.token(forge, password) if user else None
            writable = repo is not None and emu.can_write(repo, tok)
        if not tok or repo is None or (service == "git-receive-pack" and not writable):
            self.drain()
        if not tok:
            self.close_connection = True
            self.send(401, b"Authentication required\n", {"WWW-Authenticate": 'Basic realm="emulator"'})
            return
        if repo is None:
            self.close_connection = True
            self.send(404, b"Repository not found.\n")
            return
        if service == "git-receive-pack" and not writable:
            self.close_connection = True
            self.send(403, ("Permission to %s.git denied to %s.\n" % (repo["path"], tok["user"])).encode())
            return
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": emu.tmp,
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_PROJECT_ROOT": emu.git_root, "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": "/%s/%s.git/%s" % (forge, repo["path"], g["rest"]),
               "QUERY_STRING": rawq, "REQUEST_METHOD": self.command, "REMOTE_USER": tok["user"],
               "REMOTE_ADDR": self.client_address[0], "GATEWAY_INTERFACE": "CGI/1.1",
               "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": self.headers.get("Content-Type", "")}
        if self.headers.get("Content-Length"):
            env["CONTENT_LENGTH"] = self.headers["Content-Length"]
        for h in ("Content-Encoding", "Git-Protocol"):
            if self.headers.get(h):
                env["HTTP_" + h.upper().replace("-", "_")] = self.headers[h]
        backend = os.path.join(self.server.git_exec_path, "git-http-backend")
        p = subprocess.Popen([backend], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        def feed():                      # request body -> backend; the rest is drained
            try:
                for chunk in self.body_chunks():
                    try:
                        p.stdin.write(chunk)
                    except (BrokenPipeError, ValueError):
                        pass
            except (ConnectionError, ValueError, OSError):
                self.close_connection = True
            finally:
                try:
                    p.stdin.close()
                except OSError:
                    pass
        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        status, headers = 200, []
        while True:
            line = p.stdout.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k.lower() not in ("content-length", "transfer-encoding", "connection"):
                headers.append((k, v.strip()))
        self.status = status
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            data = p.stdout.read1(65536)
            if not data:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")
        p.wait()
        writer.join(30)


class BlobHandler(BaseHTTPRequestHandler):
    """The host a log download redirects to: /logs/ID, any signature; every
    request recorded with its headers as they came (a token here is a leak)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        emu = self.server.emu
        split = urllib.parse.urlsplit(self.path)
        with emu.lock:
            emu.blob_requests.append({"path": split.path, "query": split.query,
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
            m = re.fullmatch(r"/logs/(\d+)", split.path)
            data = emu.blob_log(int(m.group(1))) if m else None
        status = 200 if data is not None else 404
        data = data if data is not None else b"BlobNotFound"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="GitHub and GitLab, as far as handoff's tests need them")
    ap.add_argument("--port", type=int, required=True, help="0 picks a free port")
    ap.add_argument("--state-dir", required=True, help="bare repositories and scratch files")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--seed", type=int, default=0, help="seeds fault rates and generated tokens")
    ap.add_argument("--lenient", action="store_true",
                    help="accept GitHub requests without Accept / X-GitHub-Api-Version, as GitHub does")
    args = ap.parse_args()
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
    if not os.access(os.path.join(exec_path, "git-http-backend"), os.X_OK):
        sys.exit("forge-emulator: git http-backend not found in %r" % exec_path)
    emu = Emulator(args.state_dir, args.seed)
    server = Server((args.host, args.port), Handler)
    server.emu, server.strict, server.git_exec_path = emu, not args.lenient, exec_path
    host = args.host if ":" not in args.host else "[%s]" % args.host
    emu.base = "http://%s:%d" % (host, server.server_address[1])
    blobs = Server((args.host, 0), BlobHandler)
    blobs.emu = emu
    emu.blob_base = "http://%s:%d" % (host, blobs.server_address[1])
    threading.Thread(target=blobs.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    print("listening on %s" % emu.base, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    sys.stderr.write("forge-emulator: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
