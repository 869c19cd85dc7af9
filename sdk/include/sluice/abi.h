/*
 * Sluice plugin ABI — the plain C contract between the runtime (sluiced) and a plugin (.so).
 *
 * This header compiles as C99 and as C++. No C++ type, exception or vtable crosses it.
 *
 * COMPATIBILITY
 *   A plugin exports exactly one symbol, sluice_plugin_entry_v<MAJOR> (see abi_version.h), and
 *   returns a manifest naming the ABI version it was built against. The runtime loads it if and
 *   only if the majors are equal and the plugin's minor is <= the runtime's minor.
 *   Within a major everything is append-only: every struct that may grow starts with
 *   `struct_size`, new members and function slots are only added at the end and are marked with
 *   the minor that added them; enums only gain values. A reader must check `struct_size` before
 *   touching a member added after 1.0; the SDK does this for you.
 *
 * CONVENTIONS used in the doc blocks below
 *   OWNERSHIP  who allocates and frees, and how long a pointer stays valid.
 *   THREADING  which thread may call. The runtime runs a fixed set of worker threads, each with
 *              its own event loop; one exchange (request + response) lives on one worker and all
 *              calls about it happen on that worker, never concurrently.
 *   PHASES     where a host call is legal. A call made outside its phases returns
 *              SLUICE_E_WRONG_PHASE and changes nothing.
 *
 * Strings are never assumed to be NUL-terminated unless a doc block says so: they travel as
 * sluice_str (pointer + length). Header names compare case-insensitively.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/abi_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SLUICE_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_EXPORT
#endif

/* ---------------------------------------------------------------------------------------------
 * Basic types
 * ------------------------------------------------------------------------------------------- */

/* Result of every host call and of plugin lifecycle calls. Zero is success; errors are negative. */
typedef enum sluice_status {
    SLUICE_OK = 0,
    SLUICE_E_UNSUPPORTED = -1,  /* this runtime (or this build) cannot serve the call yet */
    SLUICE_E_INVALID = -2,      /* an argument is malformed (NULL, bad header name, ...) */
    SLUICE_E_WRONG_PHASE = -3,  /* the call is not legal in the current phase */
    SLUICE_E_NOT_FOUND = -4,    /* the named thing does not exist */
    SLUICE_E_NO_MEMORY = -5,
    SLUICE_E_TOO_LARGE = -6,    /* a configured limit would be exceeded */
    SLUICE_E_INTERNAL = -7,     /* the host failed; details are in the runtime log */
    SLUICE_E_PLUGIN = -8        /* the plugin failed (e.g. a C++ exception caught by the SDK) */
} sluice_status;

/* A borrowed byte string. OWNERSHIP: never owned by the receiver; see each call for lifetime. */
typedef struct sluice_str {
    const char* data;
    size_t len;
} sluice_str;

/* Log levels, in increasing severity. */
typedef enum sluice_log_level {
    SLUICE_LOG_TRACE = 0,
    SLUICE_LOG_DEBUG = 1,
    SLUICE_LOG_INFO = 2,
    SLUICE_LOG_WARN = 3,
    SLUICE_LOG_ERROR = 4
} sluice_log_level;

/* The processing phase an exchange is in. */
typedef enum sluice_phase {
    SLUICE_PHASE_CREATE = 0,    /* inside a component's create(); no exchange exists */
    SLUICE_PHASE_REQUEST = 1,   /* handlers' on_request, request builders */
    SLUICE_PHASE_RESPONSE = 2,  /* handlers' on_response, response builders and formatters */
    SLUICE_PHASE_LOG = 3        /* handlers' on_log: after the client has its answer; read-only */
} sluice_phase;

/* What a handler tells the pipeline to do next. */
typedef enum sluice_action {
    SLUICE_ACTION_CONTINUE = 0, /* go on with the next handler */
    SLUICE_ACTION_RESPOND = 1,  /* stop here; send the response prepared with respond() */
    SLUICE_ACTION_PAUSE = 2,    /* the handler started async work and will call resume() */
    SLUICE_ACTION_ERROR = 3     /* the handler failed; the host answers 500 (code 101500) */
} sluice_action;

/* Which message of the exchange a call is about. */
typedef enum sluice_message_kind {
    SLUICE_MSG_REQUEST = 0,
    SLUICE_MSG_RESPONSE = 1
} sluice_message_kind;

/* Request attributes, read with get_attribute(). Values are in the canonical form the runtime
 * uses for routing and sends to the backend (e.g. the normalised path). */
typedef enum sluice_attribute {
    SLUICE_ATTR_METHOD = 0,         /* "GET" */
    SLUICE_ATTR_PATH = 1,           /* normalised path without query: "/pets/v1/pets/7" */
    SLUICE_ATTR_QUERY = 2,          /* raw query string without '?' ("" when absent) */
    SLUICE_ATTR_SCHEME = 3,         /* "http" or "https" */
    SLUICE_ATTR_HOST = 4,           /* Host header / authority */
    SLUICE_ATTR_CLIENT_ADDRESS = 5, /* peer address "ip:port" as the transport saw it */
    SLUICE_ATTR_API_NAME = 6,       /* the matched API */
    SLUICE_ATTR_API_VERSION = 7,
    SLUICE_ATTR_RESOURCE = 8,       /* the matched URI template, e.g. "/pets/{id}" */
    SLUICE_ATTR_REQUEST_ID = 9,     /* the runtime's unique id for this exchange */
    SLUICE_ATTR_PROTOCOL = 10       /* "HTTP/1.1" */
} sluice_attribute;

/* ---------------------------------------------------------------------------------------------
 * Structured values
 *
 * One tree type serves component configuration and built messages (the "common" form that
 * builders produce and formatters consume). It is plain data with no struct_size: its layout is
 * frozen for the whole major version.
 *
 * OWNERSHIP: a tree handed to a plugin is owned by the host. Configuration trees are valid for
 * the duration of create(); message trees until the exchange ends. A plugin that builds a tree
 * (a builder, or a handler replacing a message) allocates every node, array and string with
 * arena_alloc() so that it lives exactly as long as the exchange; nothing is ever freed by hand.
 * ------------------------------------------------------------------------------------------- */
typedef enum sluice_value_type {
    SLUICE_VALUE_NULL = 0,
    SLUICE_VALUE_BOOL = 1,
    SLUICE_VALUE_NUMBER = 2,
    SLUICE_VALUE_STRING = 3,
    SLUICE_VALUE_ARRAY = 4,
    SLUICE_VALUE_OBJECT = 5
} sluice_value_type;

typedef struct sluice_member sluice_member;

typedef struct sluice_value {
    int32_t type;                 /* sluice_value_type */
    int32_t boolean;              /* BOOL: 0 or 1 */
    double number;                /* NUMBER: the value as a double */
    sluice_str text;              /* STRING: the text (UTF-8); NUMBER: the literal as written */
    size_t count;                 /* ARRAY: number of items; OBJECT: number of members */
    const struct sluice_value* items; /* ARRAY: `count` contiguous values */
    const sluice_member* members; /* OBJECT: `count` contiguous members, in document order */
} sluice_value;

struct sluice_member {
    sluice_str key;
    sluice_value value;
};

/* ---------------------------------------------------------------------------------------------
 * Opaque handles
 * ------------------------------------------------------------------------------------------- */

/* One exchange (a request and its response). OWNERSHIP: host. Valid from the first hook call
 * until on_log returns; a plugin must not keep it beyond that. THREADING: only on its worker. */
typedef struct sluice_exchange sluice_exchange;

/* A component's logger. OWNERSHIP: host; valid for the life of the component instance.
 * THREADING: any thread. */
typedef struct sluice_logger sluice_logger;

/* An output buffer a formatter writes into. OWNERSHIP: host; valid during the format() call. */
typedef struct sluice_buffer sluice_buffer;

/* Timer identifier; 0 is never a valid id. */
typedef uint64_t sluice_timer_id;

/* ---------------------------------------------------------------------------------------------
 * Asynchronous calls: data passed to callbacks
 *
 * THREADING for every callback: the host invokes it on the worker that owns the exchange, never
 * from inside the call that started the operation, and exactly once (unless cancelled).
 * ------------------------------------------------------------------------------------------- */

/* A header pair. OWNERSHIP: borrowed; see the struct that holds it. */
typedef struct sluice_header {
    sluice_str name;
    sluice_str value;
} sluice_header;

/* An outgoing HTTP call made through the host's async client. OWNERSHIP: caller; the host copies
 * everything before http_call() returns. */
typedef struct sluice_http_request {
    size_t struct_size;
    sluice_str method;
    sluice_str url;               /* absolute http:// or https:// URL */
    const sluice_header* headers;
    size_t header_count;
    sluice_str body;
    uint32_t timeout_ms;          /* 0: the runtime's default */
} sluice_http_request;

/* The answer to http_call(). OWNERSHIP: host; valid only during the callback. */
typedef struct sluice_http_response {
    size_t struct_size;
    sluice_status status;         /* SLUICE_OK when an HTTP answer arrived */
    int32_t http_status;
    const sluice_header* headers;
    size_t header_count;
    sluice_str body;
    sluice_str error;             /* when status != SLUICE_OK: what went wrong */
} sluice_http_response;

typedef void (*sluice_http_callback)(void* user, sluice_exchange* ex, const sluice_http_response* response);
typedef void (*sluice_timer_callback)(void* user, sluice_exchange* ex, sluice_timer_id id);
typedef void (*sluice_counter_callback)(void* user, sluice_exchange* ex, sluice_status status, int64_t value);

/* What a Key Manager says about a token. OWNERSHIP: host or connector; valid during the callback. */
typedef struct sluice_token_info {
    size_t struct_size;
    int32_t active;               /* 1 when the token is valid now */
    sluice_str subject;
    sluice_str client_id;
    sluice_str scopes;            /* space-separated */
    int64_t expires_at;           /* seconds since the epoch; 0 when unknown */
    const sluice_value* claims;   /* all claims, or NULL */
    sluice_str key_manager;       /* name of the Key Manager that answered */
} sluice_token_info;

typedef void (*sluice_token_callback)(void* user, sluice_exchange* ex, sluice_status status,
                                      const sluice_token_info* info);

/* ---------------------------------------------------------------------------------------------
 * The host function table — what the runtime offers to plugins.
 *
 * OWNERSHIP: host; the pointer handed to the entry function stays valid for the life of the
 * process. THREADING: as stated per slot. Slots are never NULL within struct_size; a slot the
 * runtime cannot serve yet returns SLUICE_E_UNSUPPORTED.
 * ------------------------------------------------------------------------------------------- */
typedef struct sluice_host_api {
    size_t struct_size;
    uint32_t abi_major;           /* the runtime's ABI version */
    uint32_t abi_minor;
    const char* runtime_version;  /* NUL-terminated semver of sluiced */

    /* --- 1.0: logging ---------------------------------------------------------------------
     * THREADING: any thread. PHASES: all. The message is copied; it need not be NUL-terminated.
     * Messages go to the runtime's sinks under the component's logger name. */
    void (*log)(const sluice_logger* logger, sluice_log_level level, sluice_str message);
    /* Non-zero when `level` would be written; lets a plugin skip formatting a message. */
    int (*log_enabled)(const sluice_logger* logger, sluice_log_level level);

    /* --- 1.0: request attributes ----------------------------------------------------------
     * PHASES: REQUEST, RESPONSE, LOG. OWNERSHIP of *out: host, valid until the exchange ends. */
    sluice_status (*get_attribute)(sluice_exchange* ex, sluice_attribute which, sluice_str* out);
    /* A path parameter of the matched URI template ("id" for "/pets/{id}"). */
    sluice_status (*get_path_param)(sluice_exchange* ex, sluice_str name, sluice_str* out);
    /* The index-th value (0-based) of a query parameter, percent-decoded. */
    sluice_status (*get_query_param)(sluice_exchange* ex, sluice_str name, size_t index, sluice_str* out);
    /* The client's TLS certificate in PEM, only when the transport verified it (mutual TLS).
     * SLUICE_E_NOT_FOUND when the client sent none or the connection is not TLS. */
    sluice_status (*get_peer_certificate)(sluice_exchange* ex, sluice_str* pem_out);

    /* --- 1.0: headers ---------------------------------------------------------------------
     * PHASES: reading: REQUEST, RESPONSE, LOG. Changing request headers: REQUEST. Changing
     * response headers: REQUEST and RESPONSE. Since 1.3: response headers changed in REQUEST
     * go on whatever answer comes, a response prepared with respond(), a local error, or the
     * backend's, where they replace the backend's fields of the same names. Since 1.4: a name
     * removed from the response in REQUEST is taken off the backend's answer too.
     * OWNERSHIP: values read are valid until the header is changed or the exchange ends; values
     * written are copied. Hop-by-hop headers are managed by the transport. */
    /* The index-th value (0-based) of header `name`; SLUICE_E_NOT_FOUND past the last. */
    sluice_status (*header_get)(sluice_exchange* ex, sluice_message_kind msg, sluice_str name, size_t index,
                                sluice_str* out);
    /* Number of headers of `msg` (all names), for use with header_at(). */
    sluice_status (*header_count)(sluice_exchange* ex, sluice_message_kind msg, size_t* out);
    /* The index-th header of `msg` in wire order. */
    sluice_status (*header_at)(sluice_exchange* ex, sluice_message_kind msg, size_t index, sluice_header* out);
    /* Replace all values of `name` with one value. */
    sluice_status (*header_set)(sluice_exchange* ex, sluice_message_kind msg, sluice_str name, sluice_str value);
    /* Append a value of `name`. Since 1.6: a message never gets two fields of a name that
     * takes one value (sdk::takesOneValue: Authorization, Content-Type, Location, Origin ...):
     * when it has one, the value replaces it, as header_set does. A request's Cookie pairs
     * join its one Cookie field ("a=1; b=2", RFC 6265 section 5.4). */
    sluice_status (*header_add)(sluice_exchange* ex, sluice_message_kind msg, sluice_str name, sluice_str value);
    /* Remove every value of `name` (SLUICE_OK even when there was none). */
    sluice_status (*header_remove)(sluice_exchange* ex, sluice_message_kind msg, sluice_str name);

    /* --- 1.0: bodies ----------------------------------------------------------------------
     * A handler that needs a body declares SLUICE_COMPONENT_NEEDS_REQUEST_BODY (or _RESPONSE_)
     * in its component flags; otherwise the body streams through and body_get returns
     * SLUICE_E_UNSUPPORTED for that exchange.
     * PHASES: the request body in REQUEST/RESPONSE/LOG, the response body in RESPONSE/LOG.
     * OWNERSHIP: bytes read are host-owned until the body changes or the exchange ends.
     * Since 1.2: when the message was replaced with message_set(), body_get first has the
     * formatter write it (once; Content-Type becomes the media type given to message_set), so
     * the bytes read are what will be sent; a formatter's failure is returned
     * (SLUICE_E_NOT_FOUND when no formatter handles the media type). */
    sluice_status (*body_get)(sluice_exchange* ex, sluice_message_kind msg, sluice_str* out);
    /* Replace the body bytes (copied); Content-Length is fixed up by the transport. Since 1.2:
     * a message built or set before is dropped (message_get builds it again from these bytes),
     * so a later formatter does not overwrite them. Since 1.3: SLUICE_E_TOO_LARGE (and nothing
     * changed) beyond the gateway's body limit (http.max_body_bytes), which received bodies
     * have too. */
    sluice_status (*body_set)(sluice_exchange* ex, sluice_message_kind msg, sluice_str bytes);
    /* The message built by the builder registered for its media type (built once, on first use).
     * SLUICE_E_NOT_FOUND when no builder handles the media type. */
    sluice_status (*message_get)(sluice_exchange* ex, sluice_message_kind msg, const sluice_value** out);
    /* Replace the built message; the formatter for `media_type` writes it back to bytes before
     * the message leaves. The tree must be arena-allocated (see sluice_value). */
    sluice_status (*message_set)(sluice_exchange* ex, sluice_message_kind msg, const sluice_value* value,
                                 sluice_str media_type);
    /* Memory that lives until the exchange ends, aligned for any type. NULL on failure.
     * PHASES: REQUEST, RESPONSE, LOG, and inside builders/formatters. */
    void* (*arena_alloc)(sluice_exchange* ex, size_t size);

    /* --- 1.0: properties shared along the chain -------------------------------------------
     * String properties any handler of the exchange can read and write (e.g. "auth.subject").
     * PHASES: REQUEST, RESPONSE, LOG (read-only in LOG). Values are copied in; values read are
     * valid until the property changes or the exchange ends. */
    sluice_status (*property_get)(sluice_exchange* ex, sluice_str name, sluice_str* out);
    sluice_status (*property_set)(sluice_exchange* ex, sluice_str name, sluice_str value);

    /* --- 1.0: responding ------------------------------------------------------------------
     * Prepare a local response; the handler then returns SLUICE_ACTION_RESPOND (or passes it
     * to resume()). Body and content type are copied. PHASES: REQUEST, RESPONSE. */
    sluice_status (*respond)(sluice_exchange* ex, int32_t http_status, sluice_str content_type, sluice_str body);
    /* Prepare the gateway's standard JSON error:
     * {"code": code, "message": message, "description": description}. */
    sluice_status (*respond_error)(sluice_exchange* ex, int32_t http_status, int64_t code, sluice_str message,
                                   sluice_str description);

    /* --- 1.0: pause and resume ------------------------------------------------------------
     * After a hook returned SLUICE_ACTION_PAUSE, the plugin calls resume() exactly once, on the
     * exchange's worker (from a host callback), with the action the hook would have returned.
     * PHASES: REQUEST, RESPONSE (while paused). */
    sluice_status (*resume)(sluice_exchange* ex, sluice_action next);

    /* --- 1.0: timers ----------------------------------------------------------------------
     * One-shot timer on the exchange's worker. Cancelled automatically when the exchange ends.
     * PHASES: REQUEST, RESPONSE. */
    sluice_status (*timer_start)(sluice_exchange* ex, uint64_t delay_ms, sluice_timer_callback cb, void* user,
                                 sluice_timer_id* id_out);
    sluice_status (*timer_cancel)(sluice_exchange* ex, sluice_timer_id id);

    /* --- 1.0: asynchronous HTTP client ----------------------------------------------------
     * PHASES: REQUEST, RESPONSE. The callback runs later on the same worker. */
    sluice_status (*http_call)(sluice_exchange* ex, const sluice_http_request* request, sluice_http_callback cb,
                               void* user);

    /* --- 1.0: counters --------------------------------------------------------------------
     * Add `delta` to the counter `key` in the current fixed window of `window_ms` and report the
     * new total (local memory or a shared store such as Redis, by configuration).
     * PHASES: REQUEST, RESPONSE. */
    sluice_status (*counter_add)(sluice_exchange* ex, sluice_str key, int64_t delta, uint64_t window_ms,
                                 sluice_counter_callback cb, void* user);

    /* --- 1.0: Key Managers ----------------------------------------------------------------
     * Ask the Key Manager `key_manager` (empty: the one that owns the token's issuer) to validate
     * a token. PHASES: REQUEST. */
    sluice_status (*key_manager_validate)(sluice_exchange* ex, sluice_str key_manager, sluice_str token,
                                          sluice_token_callback cb, void* user);

    /* --- 1.0: analytics -------------------------------------------------------------------
     * Emit an analytics event: `type` names it, `json` is a JSON object (copied).
     * PHASES: REQUEST, RESPONSE, LOG. */
    sluice_status (*analytics_emit)(sluice_exchange* ex, sluice_str type, sluice_str json);

    /* --- 1.0: formatter output ------------------------------------------------------------
     * Append bytes to a formatter's output buffer (copied). */
    sluice_status (*buffer_append)(sluice_buffer* buffer, sluice_str bytes);
} sluice_host_api;

/* ---------------------------------------------------------------------------------------------
 * Components — what a plugin offers
 * ------------------------------------------------------------------------------------------- */

typedef enum sluice_component_kind {
    SLUICE_KIND_HANDLER = 1,
    SLUICE_KIND_BUILDER = 2,
    SLUICE_KIND_FORMATTER = 3,
    SLUICE_KIND_KEY_MANAGER = 4
} sluice_component_kind;

/* Component flags. */
#define SLUICE_COMPONENT_NEEDS_REQUEST_BODY 0x1u  /* buffer the request body before on_request */
#define SLUICE_COMPONENT_NEEDS_RESPONSE_BODY 0x2u /* buffer the response body before on_response */

/* Arguments of create(). OWNERSHIP: host; valid only during create(). */
typedef struct sluice_create_args {
    size_t struct_size;
    const sluice_host_api* host;
    const sluice_logger* logger;  /* valid for the life of the instance */
    const char* instance_name;    /* NUL-terminated: the name the configuration gave it */
    const sluice_value* config;   /* the component's configuration, already validated against
                                     its schema; an empty object when none was given */
    char* error;                  /* on failure, write a NUL-terminated reason here ... */
    size_t error_capacity;        /* ... of at most this many bytes including the NUL */

    /* --- 1.1 ------------------------------------------------------------------------------ */
    const char* config_dir;       /* NUL-terminated absolute directory of sluiced's main
                                     configuration file (no trailing '/' unless it is "/"), for
                                     resolving relative paths in `config`; "" when the
                                     configuration was not read from a file */
} sluice_create_args;

/* Arguments of a builder's build_message() (1.1). OWNERSHIP: host; valid only during the call. */
typedef struct sluice_build_args {
    size_t struct_size;
    int32_t message;              /* sluice_message_kind: the message being built */
    sluice_str media_type;        /* type/subtype, lower-case, without parameters: the key the
                                     builder was chosen by */
    sluice_str content_type;      /* the whole Content-Type field value as received, parameters
                                     included (e.g. "application/xml; charset=iso-8859-1") */
    sluice_str bytes;             /* the body */
} sluice_build_args;

/* Handler hooks. Every slot may be NULL (= continue / nothing to do).
 * THREADING: on the exchange's worker; instances are shared by all workers, so per-exchange
 * state belongs in properties or arena memory, and instance state must be thread-safe. */
typedef struct sluice_handler_vtable {
    size_t struct_size;
    /* PHASES: REQUEST. */
    sluice_action (*on_request)(void* instance, sluice_exchange* ex);
    /* PHASES: RESPONSE; called in reverse chain order, also for local responses. */
    sluice_action (*on_response)(void* instance, sluice_exchange* ex);
    /* PHASES: LOG; after the response was sent; return value none. */
    void (*on_log)(void* instance, sluice_exchange* ex);
} sluice_handler_vtable;

/* A builder turns body bytes into a sluice_value tree (nodes from arena_alloc).
 * THREADING: any worker, concurrently. PHASES: REQUEST or RESPONSE. At least one of build and
 * build_message must be set; the host calls build_message when the table has it and it is not
 * NULL, else build. */
typedef struct sluice_builder_vtable {
    size_t struct_size;
    const char* const* media_types; /* NULL-terminated list of media types it handles, without
                                       parameters, e.g. {"application/json", NULL} */
    sluice_status (*build)(void* instance, sluice_exchange* ex, sluice_str media_type, sluice_str bytes,
                           const sluice_value** out);

    /* --- 1.1 ------------------------------------------------------------------------------
     * The same with the message kind and the whole Content-Type (for parameters such as
     * charset). May be NULL. */
    sluice_status (*build_message)(void* instance, sluice_exchange* ex, const sluice_build_args* args,
                                   const sluice_value** out);
} sluice_builder_vtable;

/* A formatter writes a sluice_value tree back to bytes with buffer_append().
 * THREADING: any worker, concurrently. PHASES: REQUEST or RESPONSE. */
typedef struct sluice_formatter_vtable {
    size_t struct_size;
    const char* const* media_types; /* NULL-terminated */
    sluice_status (*format)(void* instance, sluice_exchange* ex, sluice_str media_type, const sluice_value* message,
                            sluice_buffer* out);
} sluice_formatter_vtable;

/* A Key Manager connector validates tokens for the issuers it owns.
 * THREADING: any worker, concurrently. PHASES: REQUEST. It must call cb exactly once, later,
 * on the exchange's worker (typically from an http_call callback). */
typedef struct sluice_key_manager_vtable {
    size_t struct_size;
    const char* const* issuers;     /* NULL-terminated list of token issuers it owns, may be NULL */
    sluice_status (*validate)(void* instance, sluice_exchange* ex, sluice_str token, sluice_token_callback cb,
                              void* user);
} sluice_key_manager_vtable;

/* One component. The loader validates every field before anything is created. */
typedef struct sluice_component {
    size_t struct_size;
    int32_t kind;                 /* sluice_component_kind */
    const char* name;             /* unique across all loaded plugins: [a-z0-9_.-]{1,64} */
    const char* version;          /* semantic version "MAJOR.MINOR.PATCH[-pre][+build]" */
    int32_t priority;             /* default chain order: higher runs earlier */
    uint32_t flags;               /* SLUICE_COMPONENT_* */
    const char* config_schema;    /* JSON Schema (draft 7) text of its configuration, or NULL
                                     when it takes none (only {} is then accepted) */
    const char* description;      /* one line, may be NULL */
    /* Create an instance. THREADING: the runtime's control thread (since 1.5 stated as such:
     * the main thread at start, the reload thread at a reload), never a worker; create and
     * destroy calls never overlap. PHASES: CREATE. Returns SLUICE_OK and sets *instance_out, or
     * an error with args->error filled in. */
    sluice_status (*create)(const sluice_create_args* args, void** instance_out);
    /* Destroy an instance after every exchange using it has ended. THREADING: as create (the
     * reload thread for the instances a reload replaced, the main thread at exit), never a
     * worker, so a destroy that takes long holds up no exchange. */
    void (*destroy)(void* instance);
    /* Kind-specific table: sluice_handler_vtable, sluice_builder_vtable, ... */
    const void* vtable;
} sluice_component;

/* What the entry function returns. OWNERSHIP: plugin; must stay valid and unchanged for the life
 * of the process (a static constant). */
typedef struct sluice_plugin_manifest {
    size_t struct_size;
    uint32_t abi_major;           /* SLUICE_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;           /* SLUICE_ABI_MINOR the plugin was built with */
    const char* name;             /* plugin name */
    const char* version;          /* semantic version of the plugin */
    const char* description;      /* may be NULL */
    size_t component_count;
    const sluice_component* const* components;
} sluice_plugin_manifest;

/* The entry point. THREADING: the control thread (as create), once per process, right after
 * dlopen: at start, or at the reload that first finds the plugin's file. The plugin may
 * keep `host`. Returning NULL refuses to load (the runtime reports it). */
typedef const sluice_plugin_manifest* (*sluice_plugin_entry_fn)(const sluice_host_api* host);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_ABI_H */
