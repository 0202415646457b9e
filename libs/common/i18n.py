"""Messages a person reads from the API, in Chinese (the default) and English.

Services look messages up by code; ``Accept-Language: en`` (or any ``en-*``) selects English.
"""

from typing import Literal

from libs.common.log_dirs import SHARED_FOLDERS, SYSTEM_TREE_PARENTS, SYSTEM_TREES

Language = Literal["zh", "en"]

MESSAGES: dict[str, dict[str, str]] = {
    "invalid_credentials": {"zh": "用户名或密码错误", "en": "Invalid username or password"},
    "not_authenticated": {"zh": "未登录或令牌缺失", "en": "Not authenticated: the bearer token is missing"},
    "invalid_token": {"zh": "令牌无效或已过期,请重新登录", "en": "The token is invalid or expired; log in again"},
    "not_allowed": {"zh": "无权执行此操作", "en": "You are not allowed to do this"},
    "not_admin": {"zh": "仅管理员可执行此操作", "en": "Only an admin can do this"},
    "not_found": {"zh": "资源不存在", "en": "Not found"},
    "conflict": {"zh": "资源已存在", "en": "Already exists"},
    "too_many_attempts": {
        "zh": "登录尝试过于频繁,请 {seconds} 秒后再试",
        "en": "Too many login attempts; try again in {seconds} seconds",
    },
    "service_unavailable": {
        "zh": "后端服务 {service} 暂不可用,请稍后重试",
        "en": "The {service} service is unavailable; try again later",
    },
    "server_error": {
        "zh": "服务器内部错误(请求号 {request_id})",
        "en": "Internal server error (request id {request_id})",
    },
    "field_required": {"zh": "缺少必填字段", "en": "This field is required"},
    "invalid_value": {"zh": "取值无效", "en": "Invalid value"},
    "invalid_username": {
        "zh": "用户名需为3-50个字符,以字母开头,只能包含字母、数字和下划线",
        "en": "Username must be 3-50 characters, start with a letter, and use only letters, digits and _",
    },
    "invalid_email": {"zh": "邮箱格式不正确", "en": "Invalid email address"},
    "weak_password": {
        "zh": "密码至少8位,需包含大小写字母与数字",
        "en": "Password must be at least 8 characters with upper and lower case letters and digits",
    },
    "invalid_full_name": {"zh": "姓名需为2-100个字符", "en": "Full name must be 2-100 characters"},
    "username_taken": {"zh": "用户名已存在", "en": "Username already exists"},
    "email_taken": {"zh": "邮箱已被使用", "en": "Email is already in use"},
    "invalid_role": {
        "zh": "角色只能是 admin、operator 或 observer",
        "en": "Role must be admin, operator or observer",
    },
    "invalid_status": {"zh": "状态只能是 {choices}", "en": "Status must be one of: {choices}"},
    "last_admin": {
        "zh": "不能删除或降级最后一个管理员",
        "en": "The last admin cannot be deleted or demoted",
    },
    "wrong_password": {"zh": "当前密码不正确", "en": "The current password is wrong"},
    "invalid_uuid": {"zh": "UUID 格式不正确", "en": "Invalid UUID"},
    "invalid_json": {"zh": "请求体不是合法的 JSON", "en": "The request body is not valid JSON"},
    "password_too_long": {"zh": "密码不能超过 {max} 个字符", "en": "Password must be at most {max} characters"},
    "password_reused": {"zh": "新密码不能与当前密码相同", "en": "The new password must differ from the current one"},
    "password_change_required": {
        "zh": "请先修改初始密码(PATCH /api/v1/user/password)",
        "en": "Change the initial password first (PATCH /api/v1/user/password)",
    },
    "bad_request": {
        "zh": "请求无法解析,请发送合法且嵌套不过深的 JSON 请求体",
        "en": "The request could not be parsed; send a valid JSON body that is not deeply nested",
    },
    "method_not_allowed": {"zh": "该路径不支持此 HTTP 方法", "en": "This HTTP method is not allowed on this path"},
    "payload_too_large": {
        "zh": "请求体超过 {max_bytes} 字节上限",
        "en": "The request body exceeds the limit of {max_bytes} bytes",
    },
    "uri_too_long": {
        "zh": "请求的 URL 超过 {max_bytes} 字节上限,请缩短路径或查询参数",
        "en": "The request URL exceeds the limit of {max_bytes} bytes; shorten the path or the query",
    },
    "invalid_http_request": {"zh": "无法解析此 HTTP 请求", "en": "The HTTP request could not be parsed"},
    "headers_too_large": {
        "zh": "请求头合计超过 {max_bytes} 字节上限",
        "en": "The request headers together exceed the limit of {max_bytes} bytes",
    },
    # Inventory: clusters, nodes and metric queries.
    "invalid_hostname": {
        "zh": "主机名不符合 RFC 1123:由字母、数字和连字符组成的点分标签,每段 1-63 个字符,总长不超过 253",
        "en": "Invalid host name: use dot-separated labels of 1-63 letters, digits and inner hyphens (RFC 1123)",
    },
    "invalid_ip_address": {"zh": "IP 地址格式不正确", "en": "Invalid IP address"},
    "unusable_ip_address": {
        "zh": "该地址不能作为节点地址(未指定、组播、保留或链路本地地址)",
        "en": "This address cannot be a node address: it is unspecified, multicast, reserved or link-local",
    },
    "invalid_ssh_user": {
        "zh": "SSH 用户名须以小写字母或下划线开头,只含小写字母、数字、下划线和连字符,最长 32 个字符",
        "en": "SSH user must start with a lower-case letter or _, use only a-z, 0-9, _ and -, and be at most 32 long",
    },
    "invalid_log_dir": {
        "zh": "日志目录须为绝对路径,不超过 1024 个字符,只能包含字母、数字和 . _ + @ = , : / -,不能包含 .. 段",
        "en": "A log directory must be an absolute path of at most 1024 characters, using only letters, digits "
        "and . _ + @ = , : / -, without a '..' component",
    },
    "forbidden_log_dir": {
        "zh": "请使用 Hadoop 的日志目录,如 /var/log/hadoop、/opt/hadoop/logs、/usr/local/hadoop/logs、"
        "/home/<用户>/hadoop/logs 或 /data/hadoop/logs。日志目录不能是 /,不能是系统目录("
        + "、".join(SYSTEM_TREES)
        + ")或其中的目录,不能是它们的上级目录("
        + "、".join(parent for parent in SYSTEM_TREE_PARENTS if parent != "/")
        + "),也不能是 "
        + "、".join(SHARED_FOLDERS)
        + " 本身、用户主目录 /home/<用户> 或以 . 开头的隐藏目录",
        "en": "Use a Hadoop log directory such as /var/log/hadoop, /opt/hadoop/logs, /usr/local/hadoop/logs, "
        "/home/<user>/hadoop/logs or /data/hadoop/logs. A log directory cannot be /, a system directory ("
        + ", ".join(SYSTEM_TREES)
        + ") or a folder inside one, a parent of one ("
        + ", ".join(parent for parent in SYSTEM_TREE_PARENTS if parent != "/")
        + "), "
        + ", ".join(SHARED_FOLDERS)
        + " themselves, a home directory /home/<user>, or a hidden folder (a name starting with .)",
    },
    "invalid_node_role": {
        "zh": "节点角色须为小写字母开头的短名称,如 namenode、datanode",
        "en": "A node role must be a short lower-case name such as namenode or datanode",
    },
    "invalid_private_key": {
        "zh": "私钥须为 PEM 或 OpenSSH 格式文本(以 -----BEGIN ... PRIVATE KEY----- 开头)",
        "en": "The private key must be PEM or OpenSSH text starting with -----BEGIN ... PRIVATE KEY-----",
    },
    "invalid_ssh_password": {
        "zh": "SSH 密码不能为空,也不能包含 NUL 字符",
        "en": "SSH password must not be empty or contain NUL",
    },
    "invalid_known_host_key": {
        "zh": "主机公钥须为一行 known_hosts 记录或公钥,如 ssh-ed25519 AAAA...",
        "en": "The host key must be one known_hosts line or public key, such as ssh-ed25519 AAAA...",
    },
    "invalid_characters": {"zh": "包含不允许的控制字符", "en": "Contains control characters that are not allowed"},
    "invalid_single_line": {
        "zh": "不能为空,也不能包含换行、制表符或控制字符",
        "en": "Must not be empty or contain line breaks, tabs or control characters",
    },
    "too_long": {"zh": "长度或条目数不能超过 {limit}", "en": "Must be at most {limit} characters or items long"},
    "too_short": {"zh": "长度不能少于 {limit}", "en": "Must be at least {limit} characters long"},
    "too_many_items": {"zh": "最多 {limit} 项", "en": "At most {limit} items are allowed"},
    "too_few_items": {"zh": "至少需要 {limit} 项", "en": "At least {limit} items are required"},
    "value_too_small": {"zh": "不能小于 {bound}", "en": "Must be at least {bound}"},
    "value_too_large": {"zh": "不能大于 {bound}", "en": "Must be at most {bound}"},
    "invalid_choice": {"zh": "取值须为以下之一:{choices}", "en": "Must be one of: {choices}"},
    "invalid_type": {"zh": "数据类型不正确", "en": "Wrong data type"},
    "invalid_type_expected": {"zh": "数据类型不正确,应为{expected}", "en": "Wrong data type: expected {expected}"},
    "type_integer": {"zh": "整数", "en": "an integer"},
    "type_number": {"zh": "数字", "en": "a number"},
    "type_string": {"zh": "字符串", "en": "a string"},
    "type_boolean": {"zh": "布尔值 true 或 false", "en": "true or false"},
    "type_array": {"zh": "数组", "en": "a JSON array"},
    "type_object": {"zh": "对象", "en": "a JSON object"},
    "type_url": {"zh": "网址", "en": "a URL"},
    "type_null": {"zh": "null", "en": "null"},
    "invalid_format": {"zh": "格式不正确", "en": "Invalid format"},
    "invalid_format_expected": {"zh": "格式不正确,应为{format}", "en": "Invalid format: expected {format}"},
    "invalid_format_pattern": {
        "zh": "格式不正确,须匹配正则表达式 {pattern}",
        "en": "Invalid format: must match the regular expression {pattern}",
    },
    "unknown_field": {"zh": "不支持的字段", "en": "Unknown field"},
    "ssh_credentials_required": {
        "zh": "请提供 ssh_password 或 ssh_private_key",
        "en": "Give ssh_password or ssh_private_key",
    },
    "ssh_credentials_conflict": {
        "zh": "ssh_password 与 ssh_private_key 只能提供一个",
        "en": "Give either ssh_password or ssh_private_key, not both",
    },
    "duplicate_hostname": {"zh": "请求中主机名重复", "en": "This host name appears more than once in the request"},
    "cluster_name_taken": {"zh": "集群名称已存在", "en": "A cluster with this name already exists"},
    "cluster_exists": {
        "zh": "该 UUID 的集群已存在(已删除的集群也保留其 UUID)",
        "en": "A cluster with this UUID already exists (deleted clusters keep their UUID)",
    },
    "node_name_taken": {"zh": "该集群中已有同名节点", "en": "The cluster already has a node with this name"},
    "collector_unavailable": {
        "zh": "采集服务暂不可用,操作未执行,请稍后重试",
        "en": "The collector service is unavailable, so nothing was changed; try again later",
    },
    "collector_rejected": {
        "zh": "采集服务拒绝了该节点:{reason}",
        "en": "The collector rejected this node: {reason}",
    },
    "too_many_buckets": {
        "zh": "bucket 不能大于 window,且 window/bucket 不能超过 {limit}",
        "en": "bucket must not exceed window, and window/bucket must be at most {limit}",
    },
    "invalid_timezone": {
        "zh": "未知的时区名称,请使用如 Asia/Shanghai 的名称",
        "en": "Unknown time zone; use a name such as Asia/Shanghai",
    },
    "no_master_node": {
        "zh": "集群没有已注册的主节点,无法发现工作节点",
        "en": "The cluster has no registered master node to discover workers from",
    },
    "ambiguous_node": {
        "zh": "多个集群中有同名节点,请指定 cluster",
        "en": "Several of your clusters have a node with this name; give the cluster",
    },
    # Collector: log collectors and metric sampling.
    "invalid_interval": {
        "zh": "采集间隔须为 1 到 3600 之间的整数秒",
        "en": "The interval must be a whole number of seconds from 1 to 3600",
    },
    "invalid_log_type": {
        "zh": "日志类型须为 1-64 个小写字母、数字或下划线,如 namenode",
        "en": "A log type is 1-64 lower-case letters, digits or underscores, such as namenode",
    },
    "node_not_collected": {
        "zh": "采集服务尚未登记该节点,请重新保存节点的 SSH 信息",
        "en": "The collector has no SSH details for this node yet; save the node again",
    },
    # Faults: incidents and stored log records.
    "invalid_fault_type": {
        "zh": "故障类型须为故障目录中的类型(如 disk_full)或 manual",
        "en": "type must be a fault kind of the catalog (such as disk_full) or manual",
    },
    "invalid_time": {
        "zh": "时间须为 ISO 8601 格式,如 2025-12-18T00:00:00+00:00",
        "en": "The time must be ISO 8601, such as 2025-12-18T00:00:00+00:00",
    },
    "nothing_to_update": {"zh": "请至少提供 status 或 title", "en": "Give status, title or both"},
    "invalid_transition": {
        "zh": "故障状态不能从 {old} 改为 {new}",
        "en": "The fault status cannot change from {old} to {new}",
    },
    "fault_already_open": {
        "zh": "该节点已有同类型的未解决故障,不能重新打开此故障",
        "en": "The node already has an open fault of this kind, so this one cannot be reopened",
    },
    "fault_id_taken": {"zh": "该故障 ID 已存在", "en": "A fault with this id already exists"},
    "unknown_cluster": {"zh": "集群不存在", "en": "No cluster has this uuid or name"},
    "ambiguous_cluster": {
        "zh": "多个集群同名,请改用集群 UUID",
        "en": "Several clusters have this name; give the cluster uuid",
    },
    "unknown_node": {"zh": "该集群中没有此节点", "en": "The cluster has no node with this name"},
    "new_occurrences": {
        "zh": "故障在检查之后再次出现,未将其标记为已解决",
        "en": "The fault occurred again after the check, so it was not resolved",
    },
    # Collector operations: command policy, command runs, log reading and the exec log.
    "path_control_character": {"zh": "路径含有控制字符", "en": "The path contains a control character"},
    "path_not_absolute": {"zh": "路径须为以 / 开头的绝对路径", "en": "The path must be absolute (start with /)"},
    "path_too_long": {"zh": "路径不能超过 {max} 个字符", "en": "The path must be at most {max} characters"},
    "path_traversal": {"zh": "路径不能包含 ..", "en": "The path must not contain a .. component"},
    "path_invalid_characters": {
        "zh": "路径只能包含字母、数字和 . _ , + = @ : / -",
        "en": "The path may contain only letters, digits and . _ , + = @ : / -",
    },
    "path_outside_log_dirs": {
        "zh": "路径不在该节点的日志目录中",
        "en": "The path is not inside the node's log directories",
    },
    "path_outside_temp_roots": {
        "zh": "路径不在配置的临时目录中",
        "en": "The path is not inside the configured temporary directories",
    },
    "path_symlink_outside": {
        "zh": "路径经符号链接指向允许的目录之外,命令未执行",
        "en": "The path leads outside the allowed directories through a symbolic link, so nothing ran",
    },
    "path_check_failed": {
        "zh": "无法在节点上检查该路径,命令未执行",
        "en": "The path could not be checked on the node, so nothing ran",
    },
    "path_or_log_type": {"zh": "请只提供 path 或 log_type 其中之一", "en": "Give exactly one of path and log_type"},
    "text_control_character": {"zh": "文本含有控制字符", "en": "The text contains a control character"},
    "pattern_too_long": {
        "zh": "正则表达式不能超过 {max} 个字符",
        "en": "The regular expression must be at most {max} characters",
    },
    "pattern_invalid": {"zh": "正则表达式无效", "en": "The regular expression is invalid"},
    "pattern_backreference": {
        "zh": "正则表达式不能包含反向引用",
        "en": "The regular expression must not contain backreferences",
    },
    "pattern_nested_quantifier": {
        "zh": "正则表达式不能嵌套量词或重复分支,例如 (a+)+ 或 (a|aa)*",
        "en": "The regular expression must not nest quantifiers or repeat an alternation, as in (a+)+ or (a|aa)*",
    },
    "pattern_too_complex": {
        "zh": "正则表达式最多只能有 {max} 个无上限的量词",
        "en": "The regular expression may have at most {max} unbounded quantifiers",
    },
    "pattern_timeout": {
        "zh": "正则表达式匹配超时,请简化表达式",
        "en": "Matching the regular expression took too long; simplify it",
    },
    "shell_metacharacter": {
        "zh": "命令不能包含 shell 元字符(; | & $ ` < > \\ ! # ~ * ? 及各种括号)、换行或控制字符",
        "en": "The command must not contain shell metacharacters (; | & $ ` < > \\ ! # ~ * ? or any bracket), "
        "line breaks or control characters",
    },
    "command_empty": {"zh": "命令不能为空", "en": "The command is empty"},
    "command_too_long": {"zh": "命令不能超过 1000 个字符", "en": "The command must be at most 1000 characters"},
    "command_unbalanced_quotes": {"zh": "命令中的引号不成对", "en": "The command has an unclosed quote"},
    "command_not_allowed": {
        "zh": "该命令不在允许执行的命令列表中",
        "en": "This command is not on the list of allowed commands",
    },
    "role_denied_read_only": {"zh": "观察员不能执行命令", "en": "Observers cannot run commands"},
    "role_denied_service_control": {
        "zh": "只有管理员可以启动或停止服务",
        "en": "Only an admin can start or stop services",
    },
    "role_denied_maintenance": {"zh": "只有管理员可以执行维护命令", "en": "Only an admin can run maintenance commands"},
    "repair_policy_not_auto": {
        "zh": "该集群的修复策略不是 auto,不能无人值守地执行修复",
        "en": "The cluster's repair policy is not auto, so unattended repairs cannot run",
    },
    "node_not_found": {"zh": "节点不存在", "en": "Node not found"},
    "cluster_not_found": {"zh": "集群不存在", "en": "Cluster not found"},
    "cluster_has_no_nodes": {"zh": "该集群没有节点", "en": "The cluster has no nodes"},
    "node_unreachable": {
        "zh": "无法通过 SSH 连接节点 {node},命令未执行",
        "en": "The node {node} cannot be reached over SSH, so nothing ran",
    },
    "ssh_user_mismatch": {
        "zh": "sshUser 须与该节点配置的 SSH 用户一致",
        "en": "sshUser must be the SSH user configured for the node",
    },
    "log_file_not_found": {"zh": "该节点没有此类型的日志文件", "en": "The node has no log file of this type"},
    "invalid_node_name": {
        "zh": "节点名须为合法的主机名(RFC 1123)",
        "en": "The node name must be a valid host name (RFC 1123)",
    },
    "invalid_log_type_name": {
        "zh": "日志类型须以小写字母开头,由 1-41 个小写字母、数字、_ 或 - 组成",
        "en": "A log type is 1-41 lower-case letters, digits, _ or -, starting with a letter",
    },
    "end_before_start": {"zh": "结束时间不能早于开始时间", "en": "end_time must not be before start_time"},
    "from_user_not_caller": {
        "zh": "from_user_id 须为当前用户的 ID(管理员除外)",
        "en": "from_user_id must be your own user id unless you are an admin",
    },
    "run_times_immutable": {
        "zh": "命令执行记录的时间由系统记录,不能修改",
        "en": "The times of a recorded command run are measured and cannot be changed",
    },
    # AI service: chat and repairs.
    "llm_unavailable": {
        "zh": "未配置模型或模型服务暂不可用,请稍后重试",
        "en": "No model is configured or the model API is unavailable; try again later",
    },
    "repair_not_pending": {
        "zh": "该修复已批准、拒绝或执行过,不能再次处理",
        "en": "This repair was already approved, rejected or run",
    },
    "cluster_repair_running": {
        "zh": "该集群正有另一项修复在执行,本次修复未执行,仍为待批准状态,请稍后重试",
        "en": "Another repair of this cluster is running, so this one did not run and stays pending; try again later",
    },
    # Gateway: request bodies whose text cannot be sent on to a service.
    "invalid_unicode": {
        "zh": "文本含有未配对的 UTF-16 代理项(如 \\ud800),不是有效的 Unicode",
        "en": "The text contains an unpaired UTF-16 surrogate (such as \\ud800), which is not valid Unicode",
    },
}


def negotiate_language(accept_language: str | None) -> Language:
    """Pick ``en`` when the client's first preference is English, else ``zh``."""
    if not accept_language:
        return "zh"
    first = accept_language.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def message(code: str, lang: Language = "zh", **values: object) -> str:
    """Return the message for ``code`` in ``lang``, formatted with ``values``."""
    texts = MESSAGES.get(code)
    if texts is None:
        return code
    text = texts.get(lang) or texts["zh"]
    if not values:
        return text
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        # A message must never turn a 4xx into a 500: return it unformatted instead.
        return text
