"""Messages a person reads from the API, in Chinese (the default) and English.

Services look messages up by code; ``Accept-Language: en`` (or any ``en-*``) selects English.
"""

from typing import Literal

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
    "invalid_status": {"zh": "状态取值不正确", "en": "Invalid status"},
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
    "method_not_allowed": {"zh": "该路径不支持此 HTTP 方法", "en": "This HTTP method is not allowed on this path"},
    "payload_too_large": {
        "zh": "请求体超过 {max_bytes} 字节上限",
        "en": "The request body exceeds the limit of {max_bytes} bytes",
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
    return text.format(**values) if values else text
