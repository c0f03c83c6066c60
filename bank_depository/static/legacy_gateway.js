// The legacy gateway page's pre-check, served as a file so the page's Content-Security-Policy
// needs no inline script. As the original page does: ask ./users/password first, submit only when it says 1.
document.getElementById("confirm").addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.checked) { return; }
  event.preventDefault();
  fetch(document.getElementById("tip").dataset.checkUrl, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({userNo: form.userNo.value, password: form.password.value})})
    .then(function (r) { return r.json(); })
    .then(function (data) {
      if (data.result === 1) { form.dataset.checked = "1"; form.submit(); }
      else { document.getElementById("tip").textContent = "用户交易密码错误"; }
    });
});
