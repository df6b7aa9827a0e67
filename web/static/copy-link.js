// A new invite or return link: focus goes to it (the result of the action), and a button copies
// it, saying so in the notice's status line.
const input = document.getElementById("new-link");
const button = document.getElementById("copy-link");
const status = document.getElementById("copy-status");
if (input && button && status) {
  input.focus();
  input.select();
  button.hidden = false;
  button.addEventListener("click", async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(input.value);
      copied = true;
    } catch {
      input.select();
      copied = document.execCommand("copy");
    }
    status.textContent = copied ? button.dataset.copied : button.dataset.failed;
    button.focus();
  });
}
