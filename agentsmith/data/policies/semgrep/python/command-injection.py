import os
import subprocess


def show_log(branch: str):
    # ruleid: python-shell-command-from-strings
    os.system(f"git log {branch}")
    # ruleid: python-shell-command-from-strings
    subprocess.run("git log " + branch, shell=True, check=True)
    # ok: python-shell-command-from-strings
    subprocess.run(["git", "log", branch], check=True)
    # ok: python-shell-command-from-strings
    subprocess.run("git log --oneline", shell=True, check=True)
