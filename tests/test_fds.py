"""The descriptor numbers a command line names, as libvirt, scripts and how-tos write them."""

from __future__ import annotations

import pytest

from qemuwrap import fds, monitor, replay

NAMED = [
    ("tap,id=hostnet0,fd=25,vhost=on,vhostfd=26", {25, 26}),
    ('{"type":"tap","fd":"25","vhost":true,"vhostfd":"27","id":"hostnet0"}', {25, 27}),
    ('{"type":"tap","fds":"30:31","vhostfds":"32:33","id":"n1"}', {30, 31, 32, 33}),
    ('{"qom-type":"x","fd":9}', {9}),
    ("set=0,fd=21,opaque=rdonly:/var/lib/libvirt/images/a.qcow2", {21}),
    ("socket,id=charmonitor,fd=23,server=on,wait=off", {23}),
    ("vhost-user,id=net0,chardev=c0,sock_fd=12", {12}),
    ("fd:14", {14}),
    ("file=/dev/fd/15,if=virtio", {15}),
    ("file=/proc/self/fd/16,format=raw", {16}),
    ("file=/srv/fdisk1.img,if=virtio", set()),
    ("socket,id=c,path=/run/libvirt/qemu/domain-3-win/monitor.sock,server=on", set()),
]


@pytest.mark.parametrize(("word", "expected"), NAMED)
def test_the_descriptors_a_word_names(word: str, expected: set[int]) -> None:
    assert fds.named([word]) == expected


def test_the_monitor_takes_none_the_line_names_even_when_not_yet_open() -> None:
    """``qemuwrap-ctl plan`` runs without libvirt's descriptors open: the number must still
    be one the line leaves free (a JSON ``-netdev`` names them too)."""
    first = monitor.free_fd([])
    line = ["-netdev", f'{{"type":"tap","fd":"{first}","id":"n0"}}',
            "-add-fd", f"set=0,fd={first + 1}"]
    assert monitor.free_fd(line) not in {first, first + 1}


def test_the_replay_masks_exactly_the_numbers_that_change_per_start() -> None:
    one = 'socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-3-w/monitor.sock,fd=23'
    two = 'socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-17-w/monitor.sock,fd=5'
    assert replay._masked(one) == replay._masked(two) == (
        "socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-#-w/monitor.sock,fd=#")
    assert replay._masked("file=/srv/disk3.img") == "file=/srv/disk3.img"
