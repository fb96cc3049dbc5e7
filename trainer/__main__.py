"""`python -m trainer CONFIG [...]`: the same command as `garden train`."""

from trainer.cli import train_command

if __name__ == "__main__":
    train_command(prog_name="garden train")
