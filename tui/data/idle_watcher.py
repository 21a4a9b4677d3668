# cloudpane idle auto-stop: runs ON the VM (started by its startup script), stdlib only.
#
# Stops the machine (guest power-off, which Compute Engine records as TERMINATED: no more
# machine or GPU charges) once it has been idle for MINUTES: CPU below CPU_PCT, every GPU below
# GPU_PCT (nvidia-smi, when there is one) and no SSH session. Like SkyPilot's autostop and
# Vertex Workbench's idle shutdown, it works with the laptop closed: nothing outside the VM is
# needed. Arguments: MINUTES CPU_PCT GPU_PCT INTERVAL_SECONDS.
#
# CPU is the whole machine's (/proc/stat). CLOUDPANE_VM_CPU_SCOPE=session (set by cloudpane's
# local sandbox, where a "VM" is a process group on the user's machine) measures only the
# processes of this session instead, and counts no SSH sessions.
import os
import subprocess
import sys
import time

minutes, cpu_pct, gpu_pct, interval = (float(a) for a in sys.argv[1:5])
session_scope = os.environ.get("CLOUDPANE_VM_CPU_SCOPE") == "session"
ticks_per_second = os.sysconf("SC_CLK_TCK")


def say(text):
    print(time.strftime("%Y-%m-%dT%H:%M:%S"), "cloudpane-idle:", text, flush=True)


def machine_busy_idle():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def session_ticks():
    """CPU ticks of the live processes of this session, this watcher excepted."""
    me, sid, total = os.getpid(), os.getsid(0), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[3]) == sid:  # field 6: session id
            total += int(rest[11]) + int(rest[12])  # fields 14, 15: utime, stime
    return total


def gpu_max():
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    values = [float(v) for v in out.split() if v.replace(".", "", 1).isdigit()]
    return max(values) if values else None


def ssh_sessions():
    if session_scope:
        return 0
    try:
        out = subprocess.run(["who"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if "pts/" in line)


def power_off():
    for command in (["shutdown", "-h", "now"], ["poweroff"], ["systemctl", "poweroff"]):
        try:
            if subprocess.run(command, timeout=60).returncode == 0:
                return
        except (OSError, subprocess.SubprocessError):
            continue


say(f"watching: stop after {minutes:g} min with CPU < {cpu_pct:g} %, GPU < {gpu_pct:g} %, no SSH")
idle_since = None
before = session_ticks() if session_scope else machine_busy_idle()
while True:
    time.sleep(interval)
    if session_scope:
        now_ticks = session_ticks()
        cpu = max(0, now_ticks - before) / (ticks_per_second * interval) * 100
        before = now_ticks
    else:
        busy, total = machine_busy_idle()
        cpu = 100.0 * max(0, busy - before[0]) / max(1, total - before[1])
        before = (busy, total)
    gpu = gpu_max()
    ssh = ssh_sessions()
    idle = cpu < cpu_pct and (gpu is None or gpu < gpu_pct) and ssh == 0
    now = time.monotonic()
    if not idle:
        idle_since = None
    elif idle_since is None:
        idle_since = now
    gpu_text = "-" if gpu is None else f"{gpu:.0f} %"
    state = "idle" if idle else "busy"
    say(f"check: CPU {cpu:.1f} %, GPU {gpu_text}, SSH {ssh}: {state}")
    if idle_since is not None and now - idle_since >= minutes * 60:
        say(f"idle for {minutes:g} min: powering off")
        power_off()
        break
