# The same measurement as DistBench.cs through torch.distributed (Gloo, TCP on 127.0.0.1, same libtorch):
# median time of an all_reduce (sum) of a float32 buffer between local ranks. Prints one JSON line.
# Arguments: ranks elements iterations
import json, os, socket, sys, time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WARMUP = 2


def worker(rank, world, port, elements, iterations, queue):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    buf = torch.ones(elements)
    for _ in range(WARMUP):
        dist.all_reduce(buf)
    dist.barrier()
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        dist.all_reduce(buf)
        times.append(time.perf_counter() - t)
    times.sort()
    if rank == 0:
        median = times[iterations // 2]
        nbytes = elements * 4.0
        queue.put({"all_reduce_ms": round(median * 1e3, 2), "algbw_gb_s": round(nbytes / median / 1e9, 3)})
    dist.destroy_process_group()


def main():
    world, elements, iterations = (int(a) for a in sys.argv[1:4])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.spawn(worker, args=(world, port, elements, iterations, queue), nprocs=world, join=True)
    print(json.dumps(queue.get()))


if __name__ == "__main__":
    main()
