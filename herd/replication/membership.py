"""``membership[]`` and ``member_count``, printed on every change as the seed does."""

from __future__ import annotations

from herd.replication.console import Console


class Membership:
    """The replicas a detector or manager believes alive, printed as ``GFD: 2 members: S1, S2``."""

    def __init__(self, owner: str, console: Console) -> None:
        self.owner = owner
        self.console = console
        self.members: list[str] = []
        self.show()

    def __contains__(self, name: str) -> bool:
        return name in self.members

    def __len__(self) -> int:
        return len(self.members)

    def show(self) -> None:
        count = len(self.members)
        if count == 0:
            self.console.say(f"{self.owner}: 0 members")
        else:
            noun = "member" if count == 1 else "members"
            self.console.say(f"{self.owner}: {count} {noun}: {', '.join(self.members)}")

    def add(self, name: str) -> bool:
        if name in self.members:
            return False
        self.members = sorted([*self.members, name])
        self.show()
        return True

    def delete(self, name: str) -> bool:
        if name not in self.members:
            return False
        self.members.remove(name)
        self.show()
        return True
