rule run_hume:
    input:
        data=layout.DATA,
        spaces=task_embeddings,  # (phi1, phi2)
    output:
        run_job_files("hume"),
    log:
        layout.log("run_hume", layout.RUN_JOB),
    benchmark:
        layout.benchmark("run_hume", layout.RUN_JOB)
    retries: COMPUTE["retries"]
    conda:
        "../../envs/hume.yaml"
    threads: 1
    resources:
        mem_mb=run_resource("hume", "mem_mb"),
        runtime=run_resource("hume", "runtime"),
        gpu=int(COMPUTE["hume_gpu"]),
    params:
        hume=config["hume"],
        score=config["score"],
        setting=config["setting"],
        num_classes=num_classes,
        spaces=task_space_names,
        runs_per_job=RUNS_PER_JOB,
    script:
        "../scripts/run_hume.py"
