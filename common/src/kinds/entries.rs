//! The entries of the registry: one constant per kind, and [`ALL`] in the order help lists them.

use super::{
    Delete, Join, Kind, Lookup, RUN_CLOCK_FIELDS, RefKind, Rows, SetState, Switch, SwitchHow,
    Verbs, Watch, lookups, nothing_related, related,
};
use crate::apply::spec as apply;
use crate::tables;

/// Every kind, in the order help texts list them.
pub const ALL: &[&Kind] = &[
    &FLOW,
    &FLOW_RUN,
    &DEPLOYMENT,
    &SCHEDULE,
    &TASK_RUN,
    &WORK_POOL,
    &WORK_QUEUE,
    &WORKER,
    &ARTIFACT,
    &VARIABLE,
    &BLOCK,
    &AUTOMATION,
    &CONCURRENCY_LIMIT,
];

/// Flows (REF: id or name).
pub const FLOW: Kind = Kind {
    name: "flow",
    plural: "flows",
    aliases: &[],
    about: "A flow (REF: id or name), described with its deployments",
    refs: RefKind {
        label: "flow",
        list_kind: "flows",
        path: "flows",
        filter_key: "flows",
        lookup: Lookup::IdOrFilterName,
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "flows/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::FLOW_COLUMNS,
        join: Join::None,
        row: tables::flow_row,
    },
    natural_key: &["/name"],
    apply: Some(&apply::FLOW),
    related: related::flow,
    verbs: Verbs {
        delete: Some(Delete {
            path: "flows/{id}",
            bulk: Some("flows/bulk_delete"),
            expand: None,
        }),
        pause: None,
        resume_run: None,
        set_state: None,
    },
    watch: None,
};

/// Flow runs (REF: id or name).
pub const FLOW_RUN: Kind = Kind {
    name: "flow-run",
    plural: "flow-runs",
    aliases: &[],
    about: "A flow run (REF: id or name), described with its flow and deployment names and state history",
    refs: RefKind {
        label: "flow run",
        list_kind: "flow-runs",
        path: "flow_runs",
        filter_key: "flow_runs",
        lookup: Lookup::IdOrFilterName,
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "flow_runs/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::FLOW_RUN_COLUMNS,
        join: Join::FlowNames,
        row: tables::flow_run_row,
    },
    natural_key: &["/id"],
    apply: None,
    related: related::flow_run,
    verbs: Verbs {
        delete: Some(Delete {
            path: "flow_runs/{id}",
            bulk: Some("flow_runs/bulk_delete"),
            expand: None,
        }),
        pause: None,
        resume_run: Some("flow_runs/{id}/resume"),
        set_state: Some(SetState {
            single: "flow_runs/{id}/set_state",
            bulk: Some("flow_runs/bulk_set_state"),
        }),
    },
    watch: Some(Watch {
        events: "prefect.flow-run.",
        clock_fields: RUN_CLOCK_FIELDS,
    }),
};

/// Deployments (REF: id, FLOW/DEPLOYMENT, or a deployment name that is unique).
pub const DEPLOYMENT: Kind = Kind {
    name: "deployment",
    plural: "deployments",
    aliases: &[],
    about: "A deployment (REF: id, FLOW/DEPLOYMENT, or a unique name), described with its flow name",
    refs: RefKind {
        label: "deployment",
        list_kind: "deployments",
        path: "deployments",
        filter_key: "deployments",
        lookup: Lookup::Deployment,
        pair_form: "FLOW/DEPLOYMENT",
        tell_apart: ("flow_id", "flow id"),
    },
    list_path: "deployments/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::DEPLOYMENT_COLUMNS,
        join: Join::FlowNames,
        row: tables::deployment_row,
    },
    natural_key: &["/flow_name", "/name"],
    apply: Some(&apply::DEPLOYMENT),
    related: related::deployment,
    verbs: Verbs {
        delete: Some(Delete {
            path: "deployments/{id}",
            bulk: Some("deployments/bulk_delete"),
            expand: None,
        }),
        pause: Some(Switch {
            field: "/paused",
            paused_when: true,
            how: SwitchHow::Post {
                pause: "deployments/{id}/pause_deployment",
                resume: "deployments/{id}/resume_deployment",
            },
        }),
        resume_run: None,
        set_state: None,
    },
    watch: Some(Watch {
        events: "prefect.deployment.",
        clock_fields: &[],
    }),
};

/// One schedule of a deployment (REF: DEPLOYMENT/SCHEDULE, DEPLOYMENT as an id or FLOW/NAME,
/// SCHEDULE as the schedule's id or slug).
pub const SCHEDULE: Kind = Kind {
    name: "schedule",
    plural: "schedules",
    aliases: &[],
    about: "One schedule of a deployment (REF: DEPLOYMENT/SCHEDULE: the deployment's id or FLOW/NAME, then the schedule's id or slug)",
    refs: RefKind {
        label: "schedule",
        list_kind: "deployments",
        path: "deployments",
        filter_key: "deployments",
        lookup: Lookup::Custom(lookups::schedule),
        pair_form: "DEPLOYMENT/SCHEDULE",
        tell_apart: ("created", "created"),
    },
    list_path: "",
    ids_filterable: false,
    id_ref: "{deployment_id}/{id}",
    rows: Rows {
        columns: tables::SCHEDULE_COLUMNS,
        join: Join::None,
        row: tables::schedule_row,
    },
    natural_key: &["/deployment_id", "/slug"],
    apply: Some(&apply::SCHEDULE),
    related: nothing_related,
    verbs: Verbs {
        delete: Some(Delete {
            path: "deployments/{deployment_id}/schedules/{id}",
            bulk: None,
            expand: None,
        }),
        pause: Some(Switch {
            field: "/active",
            paused_when: false,
            how: SwitchHow::Patch("deployments/{deployment_id}/schedules/{id}"),
        }),
        resume_run: None,
        set_state: None,
    },
    watch: None,
};

/// Task runs (REF: id or name).
pub const TASK_RUN: Kind = Kind {
    name: "task-run",
    plural: "task-runs",
    aliases: &[],
    about: "A task run (REF: id or name), described with its state history",
    refs: RefKind {
        label: "task run",
        list_kind: "task-runs",
        path: "task_runs",
        filter_key: "task_runs",
        lookup: Lookup::IdOrFilterName,
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "task_runs/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::TASK_RUN_COLUMNS,
        join: Join::None,
        row: tables::task_run_row,
    },
    natural_key: &["/id"],
    apply: None,
    related: related::task_run,
    verbs: Verbs {
        delete: Some(Delete {
            path: "task_runs/{id}",
            bulk: None,
            expand: None,
        }),
        pause: None,
        resume_run: None,
        set_state: Some(SetState {
            single: "task_runs/{id}/set_state",
            bulk: None,
        }),
    },
    watch: Some(Watch {
        events: "prefect.task-run.",
        clock_fields: RUN_CLOCK_FIELDS,
    }),
};

/// Work pools (REF: name or id).
pub const WORK_POOL: Kind = Kind {
    name: "work-pool",
    plural: "work-pools",
    aliases: &[],
    about: "A work pool (REF: name or id), described with its work queues, workers and slot use",
    refs: RefKind {
        label: "work pool",
        list_kind: "work-pools",
        path: "work_pools",
        filter_key: "work_pools",
        lookup: Lookup::NamePath("work_pools/{}"),
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "work_pools/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::WORK_POOL_COLUMNS,
        join: Join::None,
        row: tables::work_pool_row,
    },
    natural_key: &["/name"],
    apply: Some(&apply::WORK_POOL),
    related: related::work_pool,
    verbs: Verbs {
        delete: Some(Delete {
            path: "work_pools/{name}",
            bulk: None,
            expand: None,
        }),
        pause: Some(Switch {
            field: "/is_paused",
            paused_when: true,
            how: SwitchHow::Patch("work_pools/{name}"),
        }),
        resume_run: None,
        set_state: None,
    },
    watch: Some(Watch {
        events: "prefect.work-pool.",
        clock_fields: &[],
    }),
};

/// Work queues (REF: id, POOL/QUEUE, or a queue name that is unique across pools).
pub const WORK_QUEUE: Kind = Kind {
    name: "work-queue",
    plural: "work-queues",
    aliases: &[],
    about: "A work queue (REF: id, POOL/QUEUE, or a name unique across pools)",
    refs: RefKind {
        label: "work queue",
        list_kind: "work-queues",
        path: "work_queues",
        filter_key: "work_queues",
        lookup: Lookup::IdOrPairPath("work_pools/{}/queues/{}"),
        pair_form: "POOL/QUEUE",
        tell_apart: ("work_pool_name", "pool"),
    },
    list_path: "work_queues/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::WORK_QUEUE_COLUMNS,
        join: Join::None,
        row: tables::work_queue_row,
    },
    natural_key: &["/work_pool_name", "/name"],
    apply: Some(&apply::WORK_QUEUE),
    related: related::work_queue,
    verbs: Verbs {
        delete: Some(Delete {
            path: "work_queues/{id}",
            bulk: None,
            expand: None,
        }),
        pause: Some(Switch {
            field: "/is_paused",
            paused_when: true,
            how: SwitchHow::Patch("work_queues/{id}"),
        }),
        resume_run: None,
        set_state: None,
    },
    watch: Some(Watch {
        events: "prefect.work-queue.",
        clock_fields: &[],
    }),
};

/// Workers of a work pool (REF: POOL/WORKER, or a worker name or id unique across pools).
pub const WORKER: Kind = Kind {
    name: "worker",
    plural: "workers",
    aliases: &[],
    about: "A worker (REF: POOL/WORKER, or a name or id unique across pools)",
    refs: RefKind {
        label: "worker",
        list_kind: "workers",
        path: "workers",
        filter_key: "workers",
        lookup: Lookup::Custom(lookups::worker),
        pair_form: "POOL/WORKER",
        tell_apart: ("work_pool_name", "pool"),
    },
    list_path: "work_pools/{}/workers/filter",
    ids_filterable: false,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::WORKER_COLUMNS,
        join: Join::WorkPoolNames,
        row: tables::worker_row,
    },
    natural_key: &["/work_pool_name", "/name"],
    apply: None,
    related: nothing_related,
    verbs: Verbs {
        delete: Some(Delete {
            path: "work_pools/{work_pool_name}/workers/{name}",
            bulk: None,
            expand: None,
        }),
        pause: None,
        resume_run: None,
        set_state: None,
    },
    watch: Some(Watch {
        events: "prefect.worker.",
        clock_fields: &[],
    }),
};

/// Artifacts (REF: id, or a key: its latest version; pf-rm deletes every version of a key).
pub const ARTIFACT: Kind = Kind {
    name: "artifact",
    plural: "artifacts",
    aliases: &[],
    about: "An artifact (REF: id, or a key: the latest version; pf-rm: every version of the key)",
    refs: RefKind {
        label: "artifact",
        list_kind: "artifacts",
        path: "artifacts",
        filter_key: "artifacts",
        lookup: Lookup::Custom(lookups::artifact),
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "artifacts/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::ARTIFACT_COLUMNS,
        join: Join::None,
        row: tables::artifact_row,
    },
    natural_key: &["/key"],
    apply: None,
    related: related::artifact,
    verbs: Verbs {
        delete: Some(Delete {
            path: "artifacts/{id}",
            bulk: None,
            expand: Some(lookups::artifact_versions),
        }),
        pause: None,
        resume_run: None,
        set_state: None,
    },
    watch: None,
};

/// Variables (REF: name or id).
pub const VARIABLE: Kind = Kind {
    name: "variable",
    plural: "variables",
    aliases: &[],
    about: "A variable (REF: name or id)",
    refs: RefKind {
        label: "variable",
        list_kind: "variables",
        path: "variables",
        filter_key: "variables",
        lookup: Lookup::IdOrNamePath("variables/name"),
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "variables/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::VARIABLE_COLUMNS,
        join: Join::None,
        row: tables::variable_row,
    },
    natural_key: &["/name"],
    apply: Some(&apply::VARIABLE),
    related: nothing_related,
    verbs: Verbs {
        delete: Some(Delete {
            path: "variables/{id}",
            bulk: None,
            expand: None,
        }),
        pause: None,
        resume_run: None,
        set_state: None,
    },
    watch: None,
};

/// Block documents (REF: id, TYPE/NAME as `secret/db-password`, or a name that is unique).
pub const BLOCK: Kind = Kind {
    name: "block",
    plural: "blocks",
    aliases: &[],
    about: "A block document (REF: id, TYPE/NAME, or a unique name); secret values stay hidden",
    refs: RefKind {
        label: "block",
        list_kind: "blocks",
        path: "block_documents",
        filter_key: "block_documents",
        lookup: Lookup::IdOrPairPath("block_types/slug/{}/block_documents/name/{}"),
        pair_form: "TYPE/NAME",
        tell_apart: ("block_type_name", "type"),
    },
    list_path: "block_documents/filter",
    ids_filterable: true,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::BLOCK_COLUMNS,
        join: Join::None,
        row: tables::block_row,
    },
    natural_key: &["/block_type/slug", "/name"],
    apply: Some(&apply::BLOCK),
    related: nothing_related,
    verbs: Verbs {
        delete: Some(Delete {
            path: "block_documents/{id}",
            bulk: None,
            expand: None,
        }),
        pause: None,
        resume_run: None,
        set_state: None,
    },
    watch: None,
};

/// Automations (REF: id or name).
pub const AUTOMATION: Kind = Kind {
    name: "automation",
    plural: "automations",
    aliases: &[],
    about: "An automation (REF: name or id); pausing disables it",
    refs: RefKind {
        label: "automation",
        list_kind: "automations",
        path: "automations",
        filter_key: "automations",
        lookup: Lookup::IdOrFilterName,
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "automations/filter",
    ids_filterable: false,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::AUTOMATION_COLUMNS,
        join: Join::None,
        row: tables::automation_row,
    },
    natural_key: &["/name"],
    apply: Some(&apply::AUTOMATION),
    related: nothing_related,
    verbs: Verbs {
        delete: Some(Delete {
            path: "automations/{id}",
            bulk: None,
            expand: None,
        }),
        pause: Some(Switch {
            field: "/enabled",
            paused_when: false,
            how: SwitchHow::Patch("automations/{id}"),
        }),
        resume_run: None,
        set_state: None,
    },
    watch: Some(Watch {
        events: "prefect.automation.",
        clock_fields: &[],
    }),
};

/// Concurrency limits: global limits of `/v2/concurrency_limits` and tag limits, which
/// Prefect 3 keeps as global limits named `tag:TAG` (REF: id, name, or a tag).
pub const CONCURRENCY_LIMIT: Kind = Kind {
    name: "concurrency-limit",
    plural: "concurrency-limits",
    aliases: &[
        "limits",
        "global-concurrency-limit",
        "global-concurrency-limits",
        "gcl",
    ],
    about: "A concurrency limit (REF: id, a global limit's name, or a tag); pausing makes a global limit inactive",
    refs: RefKind {
        label: "concurrency limit",
        list_kind: "concurrency-limits",
        path: "v2/concurrency_limits",
        filter_key: "concurrency_limits",
        lookup: Lookup::Custom(lookups::concurrency_limit),
        pair_form: "",
        tell_apart: ("created", "created"),
    },
    list_path: "v2/concurrency_limits/filter",
    ids_filterable: false,
    id_ref: "{id}",
    rows: Rows {
        columns: tables::CONCURRENCY_LIMIT_COLUMNS,
        join: Join::None,
        row: tables::concurrency_limit_row,
    },
    natural_key: &["/name"],
    apply: Some(&apply::CONCURRENCY_LIMIT),
    related: nothing_related,
    verbs: Verbs {
        delete: Some(Delete {
            path: "v2/concurrency_limits/{id}",
            bulk: None,
            expand: None,
        }),
        pause: Some(Switch {
            field: "/active",
            paused_when: false,
            how: SwitchHow::Patch("v2/concurrency_limits/{id}"),
        }),
        resume_run: None,
        set_state: None,
    },
    watch: None,
};
