"""An Ollama Modelfile for an exported GGUF: `ollama create NAME -f Modelfile`.

Ollama formats prompts with a Go template, not the Jinja chat template stored in the GGUF.
For tunesmith's DeepSeek-R1 chat format (tokenize.templates.CHAT_TEMPLATE) the equivalent
Go template is written; Ollama adds the bos token itself (the GGUF says add_bos_token), so
the template starts with the system text. A model with another chat template gets a
Modelfile without TEMPLATE, and Ollama falls back to the template it detects from the GGUF.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from tunesmith.tokenize.templates import ASSISTANT, CHAT_TEMPLATE, EOS, USER

# History turns are closed with eos; the last assistant turn is left open (a prefill).
R1_TEMPLATE = (
    "{{- if .System }}{{ .System }}{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n"
    "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
    f'{{{{- if eq .Role "user" }}}}{USER}{{{{ .Content }}}}\n'
    f'{{{{- else if eq .Role "assistant" }}}}{ASSISTANT}{{{{ .Content }}}}'
    f"{{{{ if not $last }}}}{EOS}{{{{ end }}}}\n"
    "{{- end }}\n"
    f'{{{{- if and $last (ne .Role "assistant") }}}}{ASSISTANT}{{{{ end }}}}\n'
    "{{- end }}"
)


def modelfile(gguf_name: str, tok: PreTrainedTokenizerBase) -> str:
    lines = [
        "# Ollama: ollama create NAME -f Modelfile   (written by tunesmith export gguf)",
        f"FROM ./{gguf_name}",
    ]
    if tok.chat_template == CHAT_TEMPLATE:
        lines.append(f'TEMPLATE """{R1_TEMPLATE}"""')
        lines += [f'PARAMETER stop "{s}"' for s in (EOS, USER)]
    else:
        lines.append(
            "# no TEMPLATE: this model's chat template is not tunesmith's DeepSeek-R1 format; "
            "Ollama uses the one it detects from the GGUF's tokenizer.chat_template"
        )
        if tok.eos_token:
            lines.append(f'PARAMETER stop "{tok.eos_token}"')
    return "\n".join(lines) + "\n"
