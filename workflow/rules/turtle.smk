rule run_turtle:
    input:
        data=layout.DATA,
        spaces=task_embeddings,  # the task's spaces, in its order
    output:
        run_job_files("turtle"),
    log:
        layout.log("run_turtle", layout.RUN_JOB),
    benchmark:
        layout.benchmark("run_turtle", layout.RUN_JOB)
    retries: COMPUTE["retries"]
    conda:
        "../../envs/hume.yaml"
    threads: 1
    resources:
        mem_mb=run_resource("turtle", "mem_mb"),
        runtime=run_resource("turtle", "runtime"),
        gpu=int(COMPUTE["hume_gpu"]),
    params:
        turtle=TURTLE_PARAMS,
        score=config["score"],
        setting=config["setting"],
        num_classes=num_classes,
        spaces=task_space_names,
        runs_per_job=RUNS_PER_JOB,
    script:
        "../scripts/run_turtle.py"
